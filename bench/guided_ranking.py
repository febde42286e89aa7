"""Benchmark: how guided occlusion should rank the words it did not measure, against full
occlusion on the same reviews (ERASER comprehensiveness and sufficiency, paired intervals).

Run after `dvc repro` (needs models/teacher and data/prepared/test.parquet):

    python bench/guided_ranking.py --reviews 40

For each of ``--reviews`` test reviews (drawn as the explain_teacher stage draws them) the teacher's
Integrated Gradients (``explain.ig_steps``) and full occlusion (every word's drop) are computed
once; guided occlusion at each ``--shares`` is then built from them exactly (the words it would
occlude are the guide's strongest, their drops are full occlusion's), in two ways:

- ``raw``: the other words keep the guide's values as they are;
- ``first`` (the explain_teacher stage's, :func:`measured_first`): the other words' guide values are
  scaled below the smallest measured drop, so every measured word ranks first.

Writes bench/results/guided_ranking.json and prints each variant minus full occlusion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from bertdistill.core.files import write_json
from bertdistill.core.params import ExplainParams, InferenceParams
from bertdistill.core.params_file import load_params, load_section, load_seed
from bertdistill.core.runtime import setup_logging
from bertdistill.evaluation.statistics import mean_intervals, paired_difference
from bertdistill.explain.attributions import Attribution
from bertdistill.explain.erasure import MEASURES, eraser_values
from bertdistill.explain.teacher_attributions import (
    guided_words,
    integrated_gradients,
    measured_first,
    occlusion,
)
from bertdistill.explain.teacher_run import choose_reviews, remembering
from bertdistill.teacher.inference import load_teacher


def guided_variants(
    guides: list[Attribution], full: list[Attribution], share: float
) -> dict[str, list[Attribution]]:
    """Guided occlusion at ``share`` built from ``full`` occlusion's drops (or from guided
    occlusion's own, which hold the words it measured), both ways."""
    raw, first = [], []
    for guide, every in zip(guides, full, strict=True):
        measured = Attribution({word: every.words[word] for word in guided_words(guide, share)})
        raw.append(Attribution(guide.words | measured.words))
        first.append(measured_first(guide, measured))
    percent = round(share * 100)
    return {f"guided_{percent}_raw": raw, f"guided_{percent}_first": first}


def add_explain_inputs(parser: argparse.ArgumentParser, reviews: int) -> None:
    """The arguments every teacher-attribution bench reads its inputs from."""
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--test", default="data/prepared/test.parquet")
    parser.add_argument("--reviews", type=int, default=reviews)


def explain_inputs(args: argparse.Namespace):
    """Logging, the seed (torch seeded with it), the inference and explain params, the fp32
    teacher on the CPU and the ``--reviews`` test reviews drawn as the explain_teacher stage
    draws them."""
    setup_logging()
    params = load_params(args.params)
    seed = load_seed(params)
    torch.manual_seed(seed)
    inference = load_section(params, "inference", InferenceParams)
    config = load_section(params, "explain", ExplainParams)
    teacher = load_teacher(args.teacher, torch.device("cpu"))
    reviews = choose_reviews(pd.read_parquet(args.test), args.reviews, seed)
    return seed, inference, config, teacher, reviews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_explain_inputs(parser, reviews=40)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 0.3, 0.5])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="bench/results/guided_ranking.json")
    args = parser.parse_args()
    seed, inference, config, teacher, reviews = explain_inputs(args)
    teacher = remembering(teacher)
    texts = reviews["text"].tolist()

    def logits_of(batch):
        return teacher.logits(batch, inference, progress=False)

    original = logits_of(texts)
    guides = [
        integrated_gradients(teacher, text, config.ig_steps, inference.batch_tokens)
        for text in texts
    ]
    full = occlusion(teacher, texts, original, inference)
    methods = {f"integrated_gradients_{config.ig_steps}": guides, "occlusion": full}
    for share in args.shares:
        methods |= guided_variants(guides, full, share)
    values = {}
    for name, items in methods.items():
        found = eraser_values(texts, logits_of, original, items, seed)
        values |= {f"{name}_{measure}": found[measure] for measure in MEASURES}
    means, samples = mean_intervals(values, args.resamples, seed)
    versus = {
        f"{name}_{measure}_minus_occlusion": paired_difference(
            means, samples, f"{name}_{measure}", f"occlusion_{measure}"
        )
        for name in methods
        if name != "occlusion"
        for measure in MEASURES
    }
    result = {
        "reviews": len(texts),
        "ig_steps": config.ig_steps,
        "faithfulness": {key: interval.keyed("mean") for key, interval in means.items()},
        "versus_occlusion": {key: diff.keyed("difference") for key, diff in versus.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    for key, difference in versus.items():
        name = key.removesuffix("_minus_occlusion")
        print(f"{name:>42} {means[name].plain():>24}  minus occlusion {difference.signed()}")


if __name__ == "__main__":
    main()
