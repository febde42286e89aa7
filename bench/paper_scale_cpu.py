"""Benchmark: the CPU stages (prepare, the two student stages, evaluate) at the paper's data scale.

params.yaml with the paper profile (conf/profiles/paper.yaml) applied: 24,000 labelled and 1,000
validation reviews, every test review (24,799 once repeats are dropped) and every unlabelled one
(49,151), so the students' transfer set holds about 97,000 texts with the synthetic variants. The
real stage commands from dvc.yaml run in a work folder; per stage it records wall time, peak
memory, the sizes and the machine.

No teacher runs (fine-tuning bert-base on this data is not affordable on a CPU): its logits are
STAND-INS, seeded noise around the gold label (+-2 plus N(0, 1)) where a review has one and
N(0, 2) where it has none, written where label_with_teacher writes them, beside the real synthetic
variants (`augment_reviews`, mask token [MASK]) and a stand-in models/teacher folder (encoding
spec, empty weights). They give the students' real sizes and shapes to time, never a quality
figure: no accuracy is recorded.

    python bench/paper_scale_cpu.py --source ../shared/data/imdb   # most of an hour on 2 cores
    python bench/paper_scale_cpu.py --smoke      # under a minute: tiny synthetic data, 2 seeds

Writes bench/results/paper_scale_cpu.json. Not part of the tests (its --smoke run is).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import yaml
from machine import matmul_peak_gflops

from bertdistill.core.dvc_stages import stage_command
from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import read_json, write_json, write_parquet, write_text
from bertdistill.core.params import AugmentParams
from bertdistill.core.params_file import load_params, load_section, load_seed
from bertdistill.core.profiles import check_keys, load_profile
from bertdistill.data.augment import augment_reviews, student_view
from bertdistill.teacher.files import SPEC_FILE, WEIGHTS_FILE
from bertdistill.teacher.model import EncodingSpec

ROOT = Path(__file__).resolve().parent.parent
MASK_TOKEN = "[MASK]"  # bert-base-uncased's, the paper profile's teacher
# --smoke: every stage in seconds (sizes and settings shrunk as tests/support.py's tiny_params).
SMOKE_SETTINGS = {
    "prepare": {"train_size": 40, "val_size": 20, "test_size": 30, "unlabeled_size": 60},
    "distill_students": {
        "tfidf": {"min_df": 1, "max_df": 1.0},  # a tiny corpus has few repeated n-grams
        "tree_max_depth": 4,
        "tree_min_samples_leaf": 1,
        "seeds": 2,
    },
    "evaluate": {"throughput_texts": 10, "throughput_repeats": 1, "bootstrap_resamples": 1000},
}
SMOKE_RAW_SIZES = {"train": 80, "test": 40, "unsup": 80}  # enough for the smoke splits
POSITIVE = ["great", "excellent", "wonderful", "loved", "best"]
NEGATIVE = ["awful", "terrible", "boring", "worst", "hated"]
NEUTRAL = ["the", "movie", "film", "plot", "acting", "was", "a", "and", "story", "it"]
NOTE = (
    "Teacher logits are seeded stand-ins (no teacher was fine-tuned or run): this records time "
    "and memory only. No accuracy is recorded; with stand-in logits it would mean nothing. The "
    "stand-ins are noise around the gold label, not a function of the text, so the distilled "
    "regressors' fit times (LinearSVR's convergence, the regression tree's growth) may differ "
    "from a run on a real teacher's logits."
)


def merged(base: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``settings`` applied key by key, nested sections merged."""
    result = dict(base)
    for key, value in settings.items():
        result[key] = merged(base[key], value) if isinstance(value, dict) else value
    return result


def synthetic_imdb(folder: Path, seed: int) -> None:
    """IMDB-shaped parquet files whose label is carried by one sentiment word among filler."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in SMOKE_RAW_SIZES.items():
        labels = np.arange(count) % 2
        texts = [
            " ".join([*rng.choice(NEUTRAL, 8), rng.choice(POSITIVE if label else NEGATIVE)])
            for label in labels
        ]
        gold = labels if split != "unsup" else np.full(count, -1)
        pd.DataFrame({"text": texts, "label": gold}).to_parquet(folder / f"{split}.parquet")


def bench_params(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The worktree's params.yaml with the paper profile (and --smoke's settings) applied."""
    params = load_params(ROOT / "params.yaml")
    profile = load_profile("paper")
    check_keys(profile, params)
    params = merged(params, profile)
    if args.smoke:
        params = merged(params, SMOKE_SETTINGS)
    source = work / "imdb" if args.smoke else Path(args.source).resolve()
    params["prepare"]["source"] = str(source)
    if args.seeds is not None:
        params["distill_students"]["seeds"] = args.seeds
    return params


def run_stage(name: str, work: Path) -> dict[str, Any]:
    """Run a stage in ``work``; its timing file, plus the seconds of the whole process (the
    interpreter's start and imports too)."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    completed = subprocess.run(stage_command(ROOT, name), cwd=work, env=env, check=False)
    process_seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise UserError(f"stage {name} failed with exit code {completed.returncode} in {work}")
    timing = read_json(work / "metrics" / "timings" / f"{name}.json")
    timing.pop("machine")
    return timing | {"process_seconds": round(process_seconds, 2)}


def stand_in_logits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """+-2 by gold label plus N(0, 1); N(0, 2) where there is no label (-1)."""
    noise = rng.standard_normal(len(labels))
    return np.where(labels < 0, 2.0 * noise, np.where(labels == 1, 2.0, -2.0) + noise)


def write_stand_in_teacher_outputs(params: dict[str, Any], work: Path) -> None:
    """What label_with_teacher and finetune_teacher leave for the student stages, with stand-in
    logits and a teacher folder that holds only its encoding spec and empty weights."""
    seed = load_seed(params)
    rng = np.random.default_rng(seed)
    prepared, logits = work / "data" / "prepared", work / "data" / "logits"
    splits = {
        name: pd.read_parquet(prepared / f"{name}.parquet")
        for name in ("train", "validation", "test", "unlabeled")
    }
    for name, frame in splits.items():
        teacher_logit = stand_in_logits(frame["label"].to_numpy(), rng)
        write_parquet(logits / f"{name}.parquet", frame[["id"]].assign(teacher_logit=teacher_logit))
    train = splits["train"]
    augment = load_section(params, "augment", AugmentParams)
    variants = augment_reviews(
        train["id"].tolist(), train["text"].tolist(), augment, MASK_TOKEN, seed
    )
    variants["student_text"] = student_view(variants, MASK_TOKEN)
    source_labels = variants["source_id"].map(train.set_index("id")["label"]).to_numpy()
    write_parquet(
        logits / "augmented.parquet",
        variants.assign(teacher_logit=stand_in_logits(source_labels, rng)),
    )
    teacher = work / "models" / "teacher"
    spec = {
        field.name: params["finetune_teacher"][field.name]
        for field in dataclasses.fields(EncodingSpec)
    }
    # The extra key makes load_teacher refuse this folder: it is never a usable teacher.
    write_json(teacher / SPEC_FILE, spec | {"stand_in": "written by bench/paper_scale_cpu.py"})
    write_text(teacher / WEIGHTS_FILE, "")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def sizes(work: Path) -> dict[str, Any]:
    """The splits prepare cut and the transfer set the students were fitted on."""
    prepared = read_json(work / "metrics" / "prepare.json")
    students = read_json(work / "metrics" / "students.json")
    split_keys = ("train_size", "validation_size", "test_size")
    transfer_keys = ("labelled_size", "unlabeled_size", "augmented_size", "transfer_size")
    return (
        {key: prepared[key] for key in split_keys}
        | {key: students[key] for key in transfer_keys}
        | {
            "tfidf_features": students["tfidf_features"],
            "seeds": students["seeds"],
            "candidates": {
                key.removesuffix("_candidates"): value
                for key, value in students.items()
                if key.endswith("_candidates")
            },
        }
    )


def run(args: argparse.Namespace, work: Path) -> None:
    params = bench_params(args, work)
    if args.smoke:
        synthetic_imdb(work / "imdb", load_seed(params))
    write_text(work / "params.yaml", yaml.safe_dump(params, sort_keys=False))
    load_average_before = os.getloadavg()[0]
    # the machine's speed bracketing the run (skipped for --smoke, a check of the script only)
    peak_before = None if args.smoke else matmul_peak_gflops()
    stages = {"prepare": run_stage("prepare", work)}
    write_stand_in_teacher_outputs(params, work)
    stages |= {
        name: run_stage(name, work) for name in ("distill_students", "distill_trees", "evaluate")
    }
    peak_after = None if args.smoke else matmul_peak_gflops()
    result = {
        "note": NOTE,
        "smoke": args.smoke,
        "profile": "paper",
        "stages": stages,
        "total_process_seconds": round(
            sum(stage["process_seconds"] for stage in stages.values()), 2
        ),
        **sizes(work),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "matmul_peak_gflops": [
            None if peak is None else round(peak, 1) for peak in (peak_before, peak_after)
        ],
        "load_average_1min": [round(load_average_before, 2), round(os.getloadavg()[0], 2)],
        "scikit_learn": sklearn.__version__,
        "machine": platform.machine(),
    }
    write_json(args.out, result)
    print(
        f"wrote {args.out}: "
        + ", ".join(f"{name} {stage['wall_seconds']} s" for name, stage in stages.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="data/imdb", help="IMDB folder (prepare.source)")
    parser.add_argument("--work", help="folder the stages run in (default: a temporary one)")
    parser.add_argument("--seeds", type=int, help="distill_students.seeds (default: params')")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, seconds")
    parser.add_argument("--out", default="bench/results/paper_scale_cpu.json")
    args = parser.parse_args()
    if args.work:
        run(args, Path(args.work).resolve())
        return
    with tempfile.TemporaryDirectory(prefix="paper_scale_cpu.") as work:
        run(args, Path(work))


if __name__ == "__main__":
    run_cli(main)
