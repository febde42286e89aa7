"""Benchmark: teacher inference and training speed against this machine's matrix-multiply peak.

In one run, on the same real IMDB reviews:
  (a) naive: every text padded to max_len, batches of 32 in input order, no_grad;
  (b) project: the labelling code (length-sorted, token-budget batches, inference_mode);
  (b2) compiled: the same code on `torch.compile(model, dynamic=True)` (not a pipeline option yet;
      compile time reported apart);
  (c) int8: the same code on the teacher as `inference.precision: int8` loads it (torch.ao dynamic);
  (d) training: the fine-tuning code for a few optimiser steps on a fresh pre-trained encoder.
For each: sequences/s, real (unpadded) tokens/s, and the GFLOP/s those real tokens need, as a share
of an fp32 matmul peak measured in the same run. Training's limit is 3x the forward FLOPs.

Run after `dvc repro` (needs models/teacher):

    python bench/teacher_throughput.py --data ../shared/data/imdb/test.parquet --texts 2000

Writes bench/results/teacher_throughput.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import matmul_peak_gflops
from torch import nn

from bertdistill.core.files import write_json
from bertdistill.core.params import InferenceParams, TeacherParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.runtime import setup_logging
from bertdistill.data.splits import clean_text
from bertdistill.teacher.batching import collate, predict_logits
from bertdistill.teacher.inference import load_teacher, quantize_int8
from bertdistill.teacher.model import encode_texts, load_pretrained
from bertdistill.teacher.training import train


def forward_flops(lengths: list[int], config) -> float:
    """Multiply-add FLOPs of a BERT encoder forward over sequences of ``lengths`` tokens.

    Per layer and token: 2 FLOPs per weight of the Q, K, V, output and two feed-forward
    matrices, plus 4 * length * hidden for the attention scores and their weighted sum.
    """
    hidden, inner = config.hidden_size, config.intermediate_size
    per_token_weights = 2 * (4 * hidden * hidden + 2 * hidden * inner)
    total = sum(length * (per_token_weights + 4 * length * hidden) for length in lengths)
    return float(config.num_hidden_layers * total)


def naive_logits(model, encoded, pad_id: int, max_len: int, batch_size: int = 32) -> np.ndarray:
    """Every text padded to ``max_len``, fixed batches in input order: the loop most code has."""
    outputs = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            input_ids, attention_mask = collate(
                encoded[start : start + batch_size], pad_id, torch.device("cpu")
            )
            missing = max_len - input_ids.shape[1]
            input_ids = nn.functional.pad(input_ids, (0, missing), value=pad_id)
            attention_mask = nn.functional.pad(attention_mask, (0, missing), value=0)
            outputs.append(model(input_ids, attention_mask).numpy())
    return np.concatenate(outputs)


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def row(name: str, sequences: int, real_tokens: int, flops: float, seconds: float, peak: float):
    gflops = flops / seconds / 1e9
    return {
        "mode": name,
        "sequences_per_second": round(sequences / seconds, 2),
        "real_tokens_per_second": round(real_tokens / seconds, 1),
        "real_token_gflops": round(gflops, 1),
        "share_of_peak": round(gflops / peak, 3),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--data", default="../shared/data/imdb/test.parquet")
    parser.add_argument("--train-data", default="../shared/data/imdb/train.parquet")
    parser.add_argument("--texts", type=int, default=2000, help="reviews timed for inference")
    parser.add_argument("--train-steps", type=int, default=10, help="optimiser steps timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/teacher_throughput.json")
    args = parser.parse_args()
    setup_logging()
    torch.manual_seed(args.seed)
    params = load_params(args.params)
    inference = load_section(params, "inference", InferenceParams)
    teacher_params = load_section(params, "finetune_teacher", TeacherParams)
    teacher = load_teacher(args.teacher, torch.device("cpu"))
    frame = pd.read_parquet(args.data).sample(args.texts, random_state=args.seed)
    texts = [clean_text(text) for text in frame["text"]]
    labels = frame["label"].to_numpy()
    encoded = encode_texts(teacher.tokenizer, texts, teacher.spec)
    lengths = [len(ids) for ids in encoded]
    pad_id = teacher.tokenizer.pad_token_id
    config = teacher.model.encoder.config
    real_flops = forward_flops(lengths, config)

    peak_before = matmul_peak_gflops()
    naive, naive_seconds = timed(
        lambda: naive_logits(teacher.model, encoded, pad_id, teacher.spec.max_len)
    )
    project, project_seconds = timed(
        lambda: predict_logits(
            teacher.model, encoded, pad_id, inference, teacher.device, progress=False
        )
    )
    compiled_model = torch.compile(teacher.model, dynamic=True)
    _, compile_seconds = timed(
        lambda: predict_logits(
            compiled_model, encoded[:64], pad_id, inference, teacher.device, progress=False
        )
    )
    compiled, compiled_seconds = timed(
        lambda: predict_logits(
            compiled_model, encoded, pad_id, inference, teacher.device, progress=False
        )
    )
    quantized_model = quantize_int8(teacher.model)
    int8, int8_seconds = timed(
        lambda: predict_logits(
            quantized_model, encoded, pad_id, inference, teacher.device, progress=False
        )
    )

    train_frame = pd.read_parquet(args.train_data).sample(
        args.train_steps * teacher_params.batch_size, random_state=args.seed
    )
    bench_params = teacher_params.model_copy(update={"epochs": 1})
    fresh, tokenizer = load_pretrained(bench_params)
    train_encoded = encode_texts(
        tokenizer, [clean_text(text) for text in train_frame["text"]], teacher.spec
    )
    validation = train_encoded[:1]
    result = train(
        fresh,
        train_encoded,
        train_frame["label"].to_numpy(),
        validation,
        train_frame["label"].to_numpy()[:1],
        tokenizer.pad_token_id,
        bench_params,
        inference,
        seed=args.seed,
        device=torch.device("cpu"),
    )
    train_lengths = [len(ids) for ids in train_encoded]
    peak_after = matmul_peak_gflops()
    peak = statistics.mean([peak_before, peak_after])

    rows = [
        row("(a) naive padded", len(texts), sum(lengths), real_flops, naive_seconds, peak),
        row("(b) project fp32", len(texts), sum(lengths), real_flops, project_seconds, peak),
        row("(b2) fp32 compiled", len(texts), sum(lengths), real_flops, compiled_seconds, peak),
        row("(c) project int8", len(texts), sum(lengths), real_flops, int8_seconds, peak),
        row(
            "(d) training fp32",
            len(train_encoded),
            sum(train_lengths),
            3 * forward_flops(train_lengths, config),
            result.train_seconds,
            peak,
        ),
    ]
    agreement = {
        "project_vs_naive_max_abs_logit_diff": float(np.max(np.abs(project - naive))),
        "int8_prediction_agreement_with_fp32": float(np.mean((int8 > 0) == (project > 0))),
        "int8_max_abs_logit_diff": float(np.max(np.abs(int8 - project))),
        "fp32_accuracy": float(np.mean((project > 0) == labels)),
        "int8_accuracy": float(np.mean((int8 > 0) == labels)),
        "int8_speedup_over_naive": round(naive_seconds / int8_seconds, 3),
        "project_speedup_over_naive": round(naive_seconds / project_seconds, 3),
        "compiled_vs_project_max_abs_logit_diff": float(np.max(np.abs(compiled - project))),
        "compiled_speedup_over_project": round(project_seconds / compiled_seconds, 3),
        "compile_and_first_64_texts_seconds": round(compile_seconds, 1),
    }
    result_json = {
        "texts": len(texts),
        "max_len": teacher.spec.max_len,
        "mean_real_tokens": round(float(np.mean(lengths)), 1),
        "matmul_peak_gflops": [round(peak_before, 1), round(peak_after, 1)],
        "rows": rows,
        **agreement,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result_json)
    print(
        f"{len(texts)} reviews, max_len {teacher.spec.max_len}, "
        f"matmul peak {peak_before:.0f} / {peak_after:.0f} GFLOP/s (before / after)"
    )
    print(f"{'mode':<20} {'seq/s':>8} {'tokens/s':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for entry in rows:
        print(
            f"{entry['mode']:<20} {entry['sequences_per_second']:>8} "
            f"{entry['real_tokens_per_second']:>10} {entry['real_token_gflops']:>8} "
            f"{entry['share_of_peak']:>8.1%}"
        )
    for key, value in agreement.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
