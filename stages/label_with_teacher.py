"""DVC stage `label_with_teacher`: the teacher's logits for every split, keyed by row id, and
for synthetic variants of the labelled reviews (params `augment`; none when n_augment is 0).

Runs in one process, or data-parallel under `torchrun --nproc_per_node N` / `accelerate launch`:
each worker labels a shard, the logits are gathered in input order and worker 0 writes them.
"""

from __future__ import annotations

import argparse
import logging
import time

from bertdistill.core.errors import run_cli
from bertdistill.core.files import write_parquet
from bertdistill.core.params import AugmentParams, InferenceParams
from bertdistill.core.params_file import load_section
from bertdistill.core.stage import (
    begin,
    parser,
    read_frame,
    write_timing,
)
from bertdistill.core.tables import frame_texts, logit_columns
from bertdistill.data.augment import augment_reviews, student_view
from bertdistill.teacher.distributed import finish, init_workers
from bertdistill.teacher.inference import load_teacher

logger = logging.getLogger("label_with_teacher")


def arguments() -> argparse.Namespace:
    args_parser = parser(__doc__)
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument(
        "--teacher-int8", help="the teacher's int8 ONNX model (inference.precision onnx_int8)"
    )
    args_parser.add_argument(
        "--split",
        nargs=2,
        action="append",
        required=True,
        metavar=("INPUT", "OUTPUT"),
        help="a split parquet to label and the logits parquet to write (repeatable)",
    )
    args_parser.add_argument(
        "--augment",
        nargs=2,
        metavar=("INPUT", "OUTPUT"),
        help="a split whose texts get synthetic variants, and the parquet of labelled variants",
    )
    return args_parser.parse_args()


def main() -> None:
    args = arguments()
    params, seed, started = begin(args, uses_torch=True)
    inference = load_section(params, "inference", InferenceParams)
    augment = load_section(params, "augment", AugmentParams) if args.augment else None

    workers = init_workers()
    teacher = load_teacher(
        args.teacher, workers.device(), inference.precision, int8_model=args.teacher_int8
    )
    labelled, labelling_seconds = 0, 0.0
    # (texts to label, columns kept beside the logits, output): splits keep their ids, synthetic
    # variants their source ids and both views of the text.
    jobs = [(read_frame(source), ["id"], destination) for source, destination in args.split]
    if args.augment:
        frame = read_frame(args.augment[0])
        variants = augment_reviews(
            frame["id"].tolist(),
            frame_texts(frame),
            augment,
            teacher.tokenizer.mask_token,
            seed,
        )
        variants["student_text"] = student_view(variants, teacher.tokenizer.mask_token)
        logger.info("%d synthetic variants of %s", len(variants), args.augment[0])
        jobs.append((variants, list(variants.columns), args.augment[1]))
    for frame, columns, destination in jobs:
        split_started = time.perf_counter()
        logits = teacher.logits(
            frame_texts(frame), inference, description=destination, workers=workers
        )
        labelling_seconds += time.perf_counter() - split_started
        labelled += len(frame)
        if workers.is_main:
            write_parquet(destination, frame[columns].assign(**logit_columns(logits)))
            logger.info("wrote %s: %d logits", destination, len(frame))
    if workers.is_main:
        write_timing(
            args.timing,
            started,
            texts=labelled,
            texts_per_second=round(labelled / max(labelling_seconds, 1e-9), 2),
            workers=workers.world_size,
            precision=inference.precision,
        )
    finish(workers)


if __name__ == "__main__":
    run_cli(main)
