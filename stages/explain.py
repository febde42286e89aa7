"""DVC stage `explain`: LIME for the teacher and every student on a few test reviews, global
views of the students, agreement with the teacher, and one HTML report."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bertdistill.config import ExplainParams, InferenceParams, load_section
from bertdistill.errors import run_cli
from bertdistill.explain import (
    explain,
    linear_top_words,
    overlap,
    rank_correlation,
    tree_top_levels,
)
from bertdistill.explain_report import render
from bertdistill.inference import load_teacher
from bertdistill.io import atomic_path, write_csv, write_json
from bertdistill.registry import KINDS, VARIANTS, model_names
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.student_files import load_students
from bertdistill.students import Students

logger = logging.getLogger("explain")
GLOBAL_WORDS = 15  # n-grams per direction in the global view of each linear student
TREE_LEVELS = 3  # tree levels shown in the global view


def global_views(students: Students) -> dict:
    vocabulary = students.featurizer.get_feature_names_out()
    linear = {
        f"{kind}_{variant}": linear_top_words(
            vocabulary, students.models[f"{kind}_{variant}"].coef_, GLOBAL_WORDS
        )
        for kind in KINDS
        if kind != "tree"
        for variant in VARIANTS
    }
    trees = {
        f"tree_{variant}": tree_top_levels(
            students.models[f"tree_{variant}"], vocabulary, TREE_LEVELS
        )
        for variant in VARIANTS
    }
    return {"linear": linear, "trees": trees}


def agreement_metrics(reviews: list[dict], top_k: int) -> dict[str, float]:
    """Per student, averaged over reviews: top-k overlap and rank correlation with the teacher's
    LIME words, and LIME's local fit; plus the mean of each over baselines and distilled."""
    metrics = {}
    for name in model_names():
        pairs = [(r["models"][name]["words"], r["models"]["teacher"]["words"]) for r in reviews]
        metrics[f"{name}_top{top_k}_overlap"] = _mean(overlap(s, t, top_k) for s, t in pairs)
        metrics[f"{name}_rank_correlation"] = _mean(rank_correlation(s, t) for s, t in pairs)
    for name in ["teacher", *model_names()]:
        metrics[f"{name}_local_fit"] = _mean(r["models"][name]["local_fit"] for r in reviews)
    for variant in VARIANTS:
        for key in (f"top{top_k}_overlap", "rank_correlation"):
            metrics[f"{variant}_mean_{key}"] = _mean(
                metrics[f"{kind}_{variant}_{key}"] for kind in KINDS
            )
    return metrics


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", required=True, help="test split parquet")
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--students", required=True, help="folder of skops students")
    args_parser.add_argument("--out", required=True, help="folder for the report and its JSON")
    args_parser.add_argument("--metrics", required=True, help="agreement metrics JSON")
    args_parser.add_argument("--plots-dir", required=True, help="folder for coefficient CSVs")
    args_parser.add_argument("--timing", required=True, help="JSON file for wall time")
    args = args_parser.parse_args()
    params, seed, started = begin(args)
    config = load_section(params, "explain", ExplainParams)
    inference = load_section(params, "inference", InferenceParams)
    logger.info("config: %s", config)

    test = read_frame(args.test)
    rng = np.random.default_rng(seed)
    chosen = test.iloc[np.sort(rng.choice(len(test), min(config.num_reviews, len(test)), False))]
    teacher = load_teacher(args.teacher, precision=inference.precision)
    students = load_students(args.students)
    classifiers = {"teacher": teacher.proba_function(inference)}
    classifiers |= {name: students.proba_function(name) for name in model_names()}

    reviews = []
    with tqdm(total=len(chosen) * len(classifiers), desc="LIME", unit="explanation") as bar:
        for position, row in enumerate(chosen.itertuples()):
            models = {}
            for name, proba in classifiers.items():
                # One seed per review, shared by all models: each sees the same perturbed texts.
                result = explain(
                    proba, row.text, config.num_features, config.num_samples, seed + position
                )
                models[name] = {
                    "probability": round(result.probability, 6),
                    "local_fit": round(result.local_fit, 6),
                    "words": result.words,
                }
                bar.update(1)
            reviews.append(
                {"id": row.id, "label": int(row.label), "text": row.text, "models": models}
            )

    agreement = agreement_metrics(reviews, config.top_k)
    views = global_views(students)
    settings = {
        "num_samples": config.num_samples,
        "num_features": config.num_features,
        "top_k": config.top_k,
        "seed": seed,
    }
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_json(tmp / "explanations.json", reviews)
        write_json(tmp / "global.json", views)
        (tmp / "index.html").write_text(render(reviews, views, agreement, settings), "utf-8")
    for name, words in views["linear"].items():
        rows = [(word, weight) for side in ("positive", "negative") for word, weight in words[side]]
        write_csv(
            f"{args.plots_dir}/coefficients/{name}.csv",
            pd.DataFrame(rows, columns=["ngram", "weight"]),
        )
    write_json(args.metrics, agreement)
    logger.info("wrote %s/index.html: %d reviews x %d models", args.out, len(reviews), len(models))
    write_timing(args.timing, started)


def _mean(values) -> float:
    return round(float(np.mean(list(values))), 6)


if __name__ == "__main__":
    run_cli(main)
