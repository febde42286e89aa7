"""Benchmark: the teacher's CPU forward passes at torch fp32, torch int8 (`inference.precision:
int8`) and ONNX Runtime int8 (`onnx_int8`, the model `quantize_teacher` writes), on the same
length-sorted token-budget batches the labelling code makes, on 2 threads.

A warm-up on `--warmup` texts each, then `--repeats` rounds of one timed pass per mode, in
turns; medians. Agreement (same sign of the logit) and the largest logit difference are against
torch fp32.

    python bench/onnx_int8.py --data data/prepared/test.parquet --texts 5000 --repeats 1

Writes bench/results/onnx_int8.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from machine import matmul_peak_gflops

from bertdistill.core.files import write_json
from bertdistill.core.params import InferenceParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.runtime import setup_logging
from bertdistill.data.splits import clean_text
from bertdistill.teacher.inference import load_teacher
from bertdistill.teacher.onnx_int8 import export_int8


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--data", default="data/prepared/test.parquet")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/onnx_int8.json")
    args = parser.parse_args()
    setup_logging()
    inference = load_section(load_params(args.params), "inference", InferenceParams)
    frame = pd.read_parquet(args.data)
    frame = frame.sample(min(args.texts, len(frame)), random_state=args.seed)
    texts = [clean_text(text) for text in frame["text"]]
    labels = frame["label"].to_numpy()
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_int8(load_teacher(args.teacher, cpu), tmp)
        teachers = {
            "torch_fp32": load_teacher(args.teacher, cpu),
            "torch_int8": load_teacher(args.teacher, cpu, "int8"),
            "onnx_int8": load_teacher(args.teacher, cpu, "onnx_int8", int8_model=onnx_path),
        }
    for teacher in teachers.values():
        teacher.logits(texts[: args.warmup], inference, progress=False)
    peak_before = matmul_peak_gflops()
    logits: dict[str, np.ndarray] = {}
    seconds: dict[str, list[float]] = {name: [] for name in teachers}
    for _ in range(args.repeats):
        for name, teacher in teachers.items():
            started = time.perf_counter()
            logits[name] = teacher.logits(texts, inference, progress=False)
            seconds[name].append(time.perf_counter() - started)
    peak_after = matmul_peak_gflops()
    reference = logits["torch_fp32"]
    base = statistics.median(seconds["torch_fp32"])
    rows = {
        name: {
            "sequences_per_second": round(len(texts) / statistics.median(seconds[name]), 2),
            "speedup_over_torch_fp32": round(base / statistics.median(seconds[name]), 3),
            "agreement_with_torch_fp32": round(
                float(np.mean((logits[name] > 0) == (reference > 0))), 4
            ),
            "max_abs_logit_diff": round(float(np.max(np.abs(logits[name] - reference))), 4),
            "accuracy": round(float(np.mean((logits[name] > 0) == labels)), 4),
            "seconds": [round(value, 1) for value in seconds[name]],
        }
        for name in teachers
    }
    result = {
        "texts": len(texts),
        "data": args.data,
        "repeats": args.repeats,
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "matmul_peak_gflops": [round(peak_before, 1), round(peak_after, 1)],
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    write_json(args.out, result)
    print(f"{len(texts)} reviews; matmul peak {peak_before:.0f} / {peak_after:.0f} GFLOP/s")
    print(f"{'mode':<12} {'seq/s':>7} {'speed-up':>9} {'agree':>7} {'accuracy':>9}")
    for name, row in rows.items():
        print(
            f"{name:<12} {row['sequences_per_second']:>7} {row['speedup_over_torch_fp32']:>8}x "
            f"{row['agreement_with_torch_fp32']:>7} {row['accuracy']:>9}"
        )


if __name__ == "__main__":
    main()
