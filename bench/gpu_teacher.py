"""Device check: the teacher's CUDA path (bf16 autocast) and the paper profile's cost on one GPU.

Needs a CUDA machine; not part of the tests. In one run:
  (1) the fine-tuned teacher labels the test split on CUDA with the project's labelling code, once
      with bf16 autocast (inference.precision=bf16, the paper profile's) and once in fp32; both
      are compared with the CPU fp32 logits that `label_with_teacher` wrote (agreement, largest
      logit difference, accuracy);
  (2) the real `finetune_teacher` and `label_with_teacher` stage scripts run with the paper
      profile's settings (params-paper.yaml: 512 tokens head+tail, batch 32, bf16) on a
      bert-base-sized encoder with random weights (the hub is out of reach here; speed does not
      depend on the weights), on the given training subset for one epoch, and the measured rates
      are scaled to the paper profile's data sizes.

    python bench/gpu_teacher.py --teacher models/teacher --test data/prepared/test.parquet \\
        --reference data/logits/test.parquet --train data/prepared/train.parquet \\
        --validation data/prepared/validation.parquet --out bench/results/gpu_teacher.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from transformers import AutoTokenizer, BertConfig, BertModel

from bertdistill.core.files import write_json
from bertdistill.core.params import InferenceParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.profiles import apply, check_keys, load_profile, overrides
from bertdistill.core.runtime import setup_logging
from bertdistill.teacher.inference import load_teacher

ROOT = Path(__file__).resolve().parent.parent
IMDB_TEST_REVIEWS, IMDB_UNLABELED_REVIEWS = 24_799, 49_151  # what prepare keeps of each split


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def label(teacher, texts, inference: InferenceParams) -> tuple[np.ndarray, float]:
    """Logits and seconds of the project's labelling path at ``inference.precision``."""
    teacher = dataclasses.replace(teacher, precision=inference.precision)
    synchronize()
    started = time.perf_counter()
    logits = teacher.logits(texts, inference, progress=False)
    synchronize()
    return logits, time.perf_counter() - started


def paper_params_file(params: str) -> str:
    """``params`` with the paper profile applied, in a temporary file."""
    path = Path(tempfile.mkdtemp()) / "params-paper.yaml"
    shutil.copy(params, path)
    profile = load_profile("paper")
    check_keys(profile, load_params(path))
    apply(path, overrides(profile))
    return str(path)


def compare(logits: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    return {
        "agreement_with_cpu_fp32": round(float(np.mean((logits > 0) == (reference > 0))), 5),
        "max_abs_logit_diff": round(float(np.max(np.abs(logits - reference))), 5),
        "accuracy": round(float(np.mean((logits > 0) == labels)), 4),
    }


def random_bert_base(folder: Path, tokenizer_source: Path) -> None:
    """bert-base-uncased's shape (12 layers, 768 wide, 512 positions) with random weights."""
    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)


def run_stage(args: list[str]) -> None:
    completed = subprocess.run([sys.executable, *args], cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"stage {args[0]} failed with exit code {completed.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--paper-params",
        help="the paper profile's params file (default: --params with conf/profiles/paper.yaml "
        "applied, as `python tools/profile_args.py paper --apply` does)",
    )
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--reference", required=True, help="CPU fp32 logits of --test")
    parser.add_argument("--train", required=True)
    parser.add_argument("--validation", required=True)
    parser.add_argument("--out", default="bench/results/gpu_teacher.json")
    parser.add_argument("--limit", type=int, help="first N rows of each input (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="smoke-run the script on the CPU")
    args = parser.parse_args()
    setup_logging()
    if not torch.cuda.is_available() and not args.cpu:
        raise SystemExit("no CUDA device: this check needs a GPU (--cpu smoke-runs it)")
    device = torch.device("cpu" if args.cpu else "cuda")
    if args.limit:
        tmp_inputs = Path(tempfile.mkdtemp())
        for name in ("test", "reference", "train", "validation"):
            small = tmp_inputs / f"{name}.parquet"
            pd.read_parquet(getattr(args, name)).head(args.limit).to_parquet(small)
            setattr(args, name, str(small))
    result: dict = {
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
        "torch": torch.__version__,
        "machine": platform.machine(),
    }

    if args.paper_params is None:
        args.paper_params = paper_params_file(args.params)

    # (1) the fine-tuned teacher on CUDA against its CPU fp32 labels
    inference = load_section(load_params(args.params), "inference", InferenceParams)
    test = pd.read_parquet(args.test)
    reference = pd.read_parquet(args.reference)
    if not test["id"].equals(reference["id"]):
        raise SystemExit(f"{args.reference} does not hold logits of {args.test} in its order")
    labels, cpu_logits = test["label"].to_numpy(), reference["teacher_logit"].to_numpy()
    teacher = load_teacher(args.teacher, device)
    texts = test["text"].tolist()
    gpu_inference = load_section(load_params(args.paper_params), "inference", InferenceParams)
    modes = {
        "bf16_autocast": inference.model_copy(update={"precision": "bf16"}),
        "fp32": inference.model_copy(update={"precision": "fp32"}),
        "bf16_autocast_paper_batches": gpu_inference.model_copy(update={"precision": "bf16"}),
    }
    # One untimed pass per mode (kernel selection for every batch shape), then timed passes in
    # alternating order; the median is reported.
    logits = {name: label(teacher, texts, mode)[0] for name, mode in modes.items()}
    seconds = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, mode in modes.items():
            seconds[name].append(label(teacher, texts, mode)[1])
    for name, mode_inference in modes.items():
        result[f"cuda_{name}"] = {
            **compare(logits[name], cpu_logits, labels),
            "batch_tokens": mode_inference.batch_tokens,
            "texts": len(texts),
            "texts_per_second": round(len(texts) / statistics.median(seconds[name]), 1),
        }
    result["cpu_fp32_accuracy"] = round(float(np.mean((cpu_logits > 0) == labels)), 4)
    del teacher
    torch.cuda.empty_cache()

    # (2) the paper profile's stages on a bert-base-sized encoder, one epoch on --train
    paper = load_params(args.paper_params)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        random_bert_base(tmp / "bert-base-random", Path(args.teacher))
        paper["finetune_teacher"].update(model=str(tmp / "bert-base-random"), epochs=1)
        if args.cpu:  # the GPU micro-batch of 32 x 512 tokens needs ~20 GiB in CPU fp32
            paper["finetune_teacher"]["micro_batch_tokens"] = 1024
        params_file = tmp / "params.yaml"
        params_file.write_text(yaml.safe_dump(paper))
        common = ["--params", str(params_file)]
        run_stage(
            [
                "stages/finetune_teacher.py",
                *common,
                *("--train", args.train, "--validation", args.validation),
                *("--out", str(tmp / "teacher"), "--metrics", str(tmp / "teacher.json")),
                *("--plots-dir", str(tmp / "plots"), "--timing", str(tmp / "finetune.json")),
            ]
        )
        run_stage(
            [
                "stages/label_with_teacher.py",
                *common,
                *("--teacher", str(tmp / "teacher")),
                *("--split", args.test, str(tmp / "test_logits.parquet")),
                *("--timing", str(tmp / "label.json")),
            ]
        )
        finetune = json.loads((tmp / "finetune.json").read_text())
        labelling = json.loads((tmp / "label.json").read_text())

    train_rate = finetune["train_sequences_per_second"]
    label_rate = labelling["texts_per_second"]
    prepare = paper["prepare"]
    epochs = load_params(args.paper_params)["finetune_teacher"]["epochs"]
    # label_with_teacher labels every split plus n_augment variants of each labelled review
    # (evaluate reads the test logits it wrote).
    # null sizes take a whole split: IMDB keeps 24,799 test and 49,151 unlabelled reviews once
    # repeats (and unlabelled copies of labelled reviews) are dropped (metrics/prepare.json)
    test_size = prepare["test_size"] or IMDB_TEST_REVIEWS
    unlabeled_size = prepare["unlabeled_size"]
    to_label = (
        prepare["train_size"] * (1 + paper["augment"]["n_augment"])
        + prepare["val_size"]
        + test_size
        + (IMDB_UNLABELED_REVIEWS if unlabeled_size is None else unlabeled_size)
    )
    result["paper_profile_on_this_gpu"] = {
        "measured_train_sequences_per_second": train_rate,
        "measured_label_texts_per_second": label_rate,
        "measured_on": {"train_texts": int(len(pd.read_parquet(args.train))), "epochs": 1},
        "finetune_teacher_minutes": round(
            (
                prepare["train_size"] * epochs / train_rate
                + epochs * prepare["val_size"] / label_rate
            )
            / 60,
            1,
        ),
        "label_with_teacher_minutes": round(to_label / label_rate / 60, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
