"""DVC stage `finetune_teacher`: fine-tune the BERT teacher, keep its best validation epoch.

Runs in one process, or data-parallel under `torchrun --nproc_per_node N` / `accelerate launch`
(DistributedDataParallel; worker 0 writes the outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.files import write_json
from bertdistill.core.params import (
    BatchingParams,
    ClassesParams,
    DatasetNameParams,
    TeacherParams,
)
from bertdistill.core.params_file import load_section
from bertdistill.core.runtime import seed_everything
from bertdistill.core.stage import begin, parser, read_frame, write_timing
from bertdistill.core.tables import frame_texts
from bertdistill.teacher.distributed import finish, init_workers
from bertdistill.teacher.model import EncodingSpec, encode_texts, load_pretrained
from bertdistill.teacher.model_card import write_model_card
from bertdistill.teacher.training import TrainingResult, save_teacher, train
from bertdistill.teacher.training_log import NoLog, live_log

logger = logging.getLogger("finetune_teacher")


def arguments() -> argparse.Namespace:
    args_parser = parser(__doc__)
    args_parser.add_argument("--train", required=True, help="labelled training parquet")
    args_parser.add_argument("--validation", required=True, help="validation parquet")
    args_parser.add_argument("--out", required=True, help="folder for the fine-tuned teacher")
    args_parser.add_argument("--metrics", required=True, help="teacher metrics JSON")
    args_parser.add_argument(
        "--live", required=True, help="DVCLive folder: the training curves, live as they come"
    )
    return args_parser.parse_args()


def write_results(
    args: argparse.Namespace,
    model,
    result: TrainingResult,
    train_size: int,
    validation_size: int,
) -> dict:
    """The best epoch's metrics (the main worker only), written and returned."""
    metrics = {
        "best_epoch": result.best_epoch,
        "val_accuracy": round(result.best_val_accuracy, 6),
        "final_train_loss": result.epochs[-1]["train_loss"],
        "train_size": train_size,
        "validation_size": validation_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    write_json(args.metrics, metrics)
    return metrics


def main() -> None:
    args = arguments()
    params, seed, started = begin(args, uses_torch=True)
    config = load_section(params, "finetune_teacher", TeacherParams)
    # Validation batches like labelling does; the other inference keys are not read here.
    batching = load_section(params, "inference", BatchingParams, only=True)
    classes = load_section(params, "prepare", ClassesParams, only=True).names
    dataset = load_section(params, "prepare", DatasetNameParams, only=True).dataset  # the card's
    logger.info("config: %s; classes: %s", config, ", ".join(classes))
    if config.seed is not None:  # the teacher's own seed: its seed spread, on the same splits
        seed = config.seed
        seed_everything(seed, uses_torch=True)

    train_frame = read_frame(args.train)
    val_frame = read_frame(args.validation)
    model, tokenizer = load_pretrained(config, len(classes))
    spec = EncodingSpec(config.max_len, config.truncation, config.head_tokens, config.pooling)
    train_encoded = encode_texts(tokenizer, frame_texts(train_frame), spec)
    val_encoded = encode_texts(tokenizer, frame_texts(val_frame), spec)
    workers = init_workers()
    device = workers.device()
    logger.info(
        "fine-tuning on %d texts (validation %d) on %s",
        len(train_encoded),
        len(val_encoded),
        device,
    )
    with live_log(args.live) if workers.is_main else contextlib.nullcontext(NoLog()) as log:
        result = train(
            model,
            train_encoded,
            train_frame["label"].to_numpy(),
            val_encoded,
            val_frame["label"].to_numpy(),
            tokenizer.pad_token_id,
            config,
            batching,
            seed,
            device,
            workers,
            log,
        )
    if not workers.is_main:
        finish(workers)
        return
    save_teacher(args.out, model, tokenizer, spec, classes)
    metrics = write_results(args, model, result, len(train_encoded), len(val_encoded))
    write_model_card(args.out, config, metrics, seed, dataset, classes)
    logger.info(
        "saved teacher (best epoch %d) and its model card to %s", result.best_epoch, args.out
    )
    sequences = len(train_encoded) * config.epochs
    write_timing(
        args.timing,
        started,
        train_seconds=round(result.train_seconds, 2),
        validation_seconds=round(result.validation_seconds, 2),
        train_sequences_per_second=round(sequences / result.train_seconds, 2),
        workers=workers.world_size,
    )
    finish(workers)


if __name__ == "__main__":
    run_cli(main)
