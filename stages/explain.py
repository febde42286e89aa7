"""DVC stage `explain`: LIME for the teacher and every student on a few test reviews."""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from bertdistill.config import ExplainParams, InferenceParams, load_section
from bertdistill.errors import run_cli
from bertdistill.explain import explain, overlap, rank_correlation
from bertdistill.io import atomic_path, write_json
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.students import load_students, model_names
from bertdistill.teacher import load_teacher

logger = logging.getLogger("explain")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", required=True, help="test split parquet")
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--students", required=True, help="folder of skops students")
    args_parser.add_argument("--out", required=True, help="folder for explanation JSON and HTML")
    args_parser.add_argument("--metrics", required=True, help="agreement metrics JSON")
    args_parser.add_argument("--timing", required=True, help="JSON file for wall time")
    args = args_parser.parse_args()
    params, seed, started = begin(args)
    config = load_section(params, "explain", ExplainParams)
    inference = load_section(params, "inference", InferenceParams)
    logger.info("config: %s", config)

    test = read_frame(args.test)
    rng = np.random.default_rng(seed)
    chosen = test.iloc[np.sort(rng.choice(len(test), min(config.num_reviews, len(test)), False))]
    teacher = load_teacher(args.teacher)
    students = load_students(args.students)
    classifiers = {"teacher": teacher.proba_function(inference)}
    classifiers |= {name: students.proba_function(name) for name in model_names()}

    reviews = []
    with tqdm(total=len(chosen) * len(classifiers), desc="LIME", unit="explanation") as bar:
        for position, row in enumerate(chosen.itertuples()):
            explanations = {}
            for name, proba in classifiers.items():
                # One seed per review, shared by all models: each sees the same perturbed texts.
                explanations[name] = explain(
                    proba, row.text, config.num_features, config.num_samples, seed + position
                )
                bar.update(1)
            reviews.append((row, explanations))

    agreement = {}
    for name in model_names():
        pairs = [(ex[name].words, ex["teacher"].words) for _, ex in reviews]
        agreement[f"{name}_top{config.top_k}_overlap"] = _mean(
            overlap(student, teacher_words, config.top_k) for student, teacher_words in pairs
        )
        agreement[f"{name}_rank_correlation"] = _mean(rank_correlation(*pair) for pair in pairs)
    for name in classifiers:
        agreement[f"{name}_local_fit"] = _mean(ex[name].local_fit for _, ex in reviews)

    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        records = []
        for row, explanations in reviews:
            for name, explanation in explanations.items():
                (tmp / f"{row.id}_{name}.html").write_text(explanation.html, encoding="utf-8")
            records.append(
                {
                    "id": row.id,
                    "label": int(row.label),
                    "text": row.text,
                    "models": {
                        name: {
                            "probability": round(ex.probability, 6),
                            "local_fit": round(ex.local_fit, 6),
                            "words": ex.words,
                        }
                        for name, ex in explanations.items()
                    },
                }
            )
        write_json(tmp / "explanations.json", records)
    write_json(args.metrics, agreement)
    logger.info("wrote %d explanations to %s", len(reviews) * len(classifiers), args.out)
    write_timing(args.timing, started)


def _mean(values) -> float:
    return round(float(np.mean(list(values))), 6)


if __name__ == "__main__":
    run_cli(main)
