"""Benchmark: one LIME explanation of the teacher vs labelling the same texts with the labelling
code, measured in one run (issue 5's target: ratio <= 1.2 and <= 20 s at num_samples 1,000).

Run after `dvc repro` (needs models/teacher and data/prepared/test.parquet):

    python bench/lime_teacher.py --reviews 3 --num-samples 1000

Writes bench/results/lime_teacher.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from machine import matmul_peak_gflops

from bertdistill.core.files import write_json
from bertdistill.core.params import InferenceParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.runtime import setup_logging
from bertdistill.explain.lime_explainer import explain
from bertdistill.teacher.inference import load_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--test", default="data/prepared/test.parquet")
    parser.add_argument("--reviews", type=int, default=3, help="reviews of median length timed")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--num-features", type=int, default=10)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    parser.add_argument("--out", default="bench/results/lime_teacher.json")
    args = parser.parse_args()
    setup_logging()
    torch.manual_seed(0)
    inference = load_section(load_params(args.params), "inference", InferenceParams)
    teacher = load_teacher(args.teacher, torch.device("cpu"), args.precision)
    test = pd.read_parquet(args.test)
    lengths = test["text"].str.split().str.len()
    median_rows = (lengths - lengths.median()).abs().sort_values(kind="stable").index
    texts = test.loc[median_rows[: args.reviews], "text"].tolist()

    peak_before = matmul_peak_gflops()
    rows = []
    for index, text in enumerate(texts):
        seen: list[str] = []
        proba = teacher.proba_function(inference)

        def recording(batch, proba=proba, seen=seen):
            seen.extend(batch)
            return proba(batch)

        started = time.perf_counter()
        explain(recording, text, args.num_features, args.num_samples, seed=index)
        lime_seconds = time.perf_counter() - started
        started = time.perf_counter()
        teacher.logits(seen, inference, progress=False)
        label_seconds = time.perf_counter() - started
        rows.append(
            {
                "review_words": len(text.split()),
                "texts_classified": len(seen),
                "lime_seconds": round(lime_seconds, 2),
                "labelling_seconds": round(label_seconds, 2),
                "ratio": round(lime_seconds / label_seconds, 3),
            }
        )
        print(json.dumps(rows[-1]))
    peak_after = matmul_peak_gflops()
    result = {
        "num_samples": args.num_samples,
        "precision": args.precision,
        "matmul_peak_gflops": [round(peak_before, 1), round(peak_after, 1)],
        "reviews": rows,
        "median_lime_seconds": statistics.median(r["lime_seconds"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"{'review words':>12} {'texts':>6} {'LIME s':>8} {'label s':>8} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['review_words']:>12} {row['texts_classified']:>6} {row['lime_seconds']:>8} "
            f"{row['labelling_seconds']:>8} {row['ratio']:>6}"
        )
    print(f"median LIME {result['median_lime_seconds']} s, median ratio {result['median_ratio']}")
    print(f"matmul peak {peak_before:.0f} / {peak_after:.0f} GFLOP/s (before / after)")


if __name__ == "__main__":
    main()
