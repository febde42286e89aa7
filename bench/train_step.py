"""Benchmark: where one fine-tuning step of the teacher spends its time on this machine.

Builds the teacher as `finetune_teacher` does (params.yaml's `finetune_teacher` section, the
pre-trained encoder and a fresh head) and runs its optimiser steps on real training reviews, the
first `--warmup` untimed, each phase timed on its own: data (collating the step's
micro-batches), forward, backward, gradient clipping, and the AdamW step. Three variants, each
on the same batches: the project's AdamW (torch's default per-tensor loop on CPU); torch's fused
AdamW kernel (``fused=True``: the same update, one pass over each parameter group); and the
word-embedding matrix frozen (30,522 x 384 for MiniLM, about half the teacher's parameters),
which spares the optimiser half its work and the backward pass that matrix's gradient. Median
seconds per step, each phase's median and its share of the median step (shares need not add
up to 1); the matmul peak before and after. fp32 on the CPU, whatever
`finetune_teacher.precision` says.

    python bench/train_step.py --steps 6

Writes bench/results/train_step.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import matmul_peak_gflops
from torch import nn

from bertdistill.core.files import write_json
from bertdistill.core.params import TeacherParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.runtime import setup_logging
from bertdistill.data.splits import clean_text
from bertdistill.teacher.batching import collate, length_grouped_batches, micro_batches
from bertdistill.teacher.model import EncodingSpec, encode_texts, load_pretrained
from bertdistill.teacher.training import parameter_groups

PHASES = ("data", "forward", "backward", "clip", "optimizer")


def timed_steps(
    model, batches, encoded, lengths, labels, pad_id, config, steps, warmup, fused
) -> dict:
    """Median seconds per phase over ``steps`` optimiser steps after ``warmup`` untimed ones
    (``fused``: torch's fused AdamW kernel instead of its default per-tensor loop)."""
    groups = parameter_groups(model, config.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=0.0, fused=fused)
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    cpu = torch.device("cpu")
    model.train()
    seconds: dict[str, list[float]] = {phase: [] for phase in (*PHASES, "step")}
    for index, batch in enumerate(batches[: warmup + steps]):
        spent = dict.fromkeys(PHASES, 0.0)
        optimizer.zero_grad(set_to_none=True)
        for part in micro_batches(batch, lengths, config.micro_batch_tokens):
            started = time.perf_counter()
            input_ids, attention_mask = collate([encoded[i] for i in part], pad_id, cpu)
            target = labels[part]
            spent["data"] += time.perf_counter() - started
            started = time.perf_counter()
            loss = loss_fn(model(input_ids, attention_mask).float(), target) / len(batch)
            spent["forward"] += time.perf_counter() - started
            started = time.perf_counter()
            loss.backward()
            spent["backward"] += time.perf_counter() - started
        started = time.perf_counter()
        if config.max_grad_norm > 0:  # 0 turns clipping off, as in training
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        spent["clip"] += time.perf_counter() - started
        started = time.perf_counter()
        optimizer.step()
        spent["optimizer"] += time.perf_counter() - started
        if index >= warmup:
            for phase in PHASES:
                seconds[phase].append(spent[phase])
            seconds["step"].append(sum(spent.values()))
    return {phase: statistics.median(values) for phase, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="../shared/data/imdb/train.parquet")
    parser.add_argument("--steps", type=int, default=6, help="timed optimiser steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/train_step.json")
    args = parser.parse_args()
    setup_logging()
    config = load_section(load_params(args.params), "finetune_teacher", TeacherParams)
    torch.manual_seed(args.seed)
    # reviews enough for the steps, whatever their lengths (batches come from length groups)
    count = (args.steps + args.warmup) * config.batch_size * 4
    frame = pd.read_parquet(args.data).sample(count, random_state=args.seed)
    spec = EncodingSpec(config.max_len, config.truncation, config.head_tokens, config.pooling)
    model, tokenizer = load_pretrained(config, 2)
    encoded = encode_texts(tokenizer, [clean_text(text) for text in frame["text"]], spec)
    lengths = [len(ids) for ids in encoded]
    labels = torch.tensor(frame["label"].to_numpy(), dtype=torch.float32)
    batches = length_grouped_batches(
        lengths,
        config.batch_size,
        config.length_group_size,
        np.random.default_rng(args.seed),
        config.batch_tokens,
    )
    embedding = model.encoder.get_input_embeddings().weight
    peak_before = matmul_peak_gflops()
    runs = {}
    variants = (
        ("all parameters", True, False),
        ("fused AdamW", True, True),
        ("word embeddings frozen", False, False),
    )
    for name, trainable, fused in variants:
        embedding.requires_grad_(trainable)
        runs[name] = timed_steps(
            model,
            batches,
            encoded,
            lengths,
            labels,
            tokenizer.pad_token_id,
            config,
            args.steps,
            args.warmup,
            fused,
        )
    embedding.requires_grad_(True)
    peak_after = matmul_peak_gflops()
    parameters = sum(p.numel() for p in model.parameters())
    rows = {
        name: {
            "seconds_per_step": round(phases["step"], 4),
            **{f"{phase}_seconds": round(phases[phase], 4) for phase in PHASES},
            **{f"{phase}_share": round(phases[phase] / phases["step"], 4) for phase in PHASES},
        }
        for name, phases in runs.items()
    }
    result = {
        "model": config.model,
        "max_len": config.max_len,
        "batch_size": config.batch_size,
        "micro_batch_tokens": config.micro_batch_tokens,
        "parameters": parameters,
        "word_embedding_parameters": embedding.numel(),
        "timed_steps": args.steps,
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": [round(peak_before, 1), round(peak_after, 1)],
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"{args.steps} steps of {config.batch_size} reviews ({config.max_len} tokens);")
    print(f"matmul peak {peak_before:.0f} / {peak_after:.0f} GFLOP/s; medians per step")
    print(f"{'':<24} {'s/step':>7} " + " ".join(f"{phase:>10}" for phase in PHASES))
    for name, row in rows.items():
        shares = " ".join(f"{row[f'{phase}_share']:>10.1%}" for phase in PHASES)
        print(f"{name:<24} {row['seconds_per_step']:>7.3f} {shares}")


if __name__ == "__main__":
    main()
