"""Scores, plots data, throughput and the paper-versus-ours report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

from bertdistill.registry import (
    KIND_TITLES,
    KINDS,
    PAPER_TABLE,
    STUDENTS,
    TEACHER,
    paper_applies,
)


def score(labels: np.ndarray, logits: np.ndarray, teacher_logits: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 and ROC-AUC against gold labels, and agreement with the teacher's labels."""
    predictions = (logits > 0).astype(int)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1": float(f1_score(labels, predictions)),
        "roc_auc": float(roc_auc_score(labels, logits)),
        "agreement": float(np.mean(predictions == (teacher_logits > 0))),
    }


def roc_points(labels: np.ndarray, logits: np.ndarray) -> pd.DataFrame:
    fpr, tpr, _ = roc_curve(labels, logits, drop_intermediate=True)
    return pd.DataFrame({"fpr": fpr.round(5), "tpr": tpr.round(5)})


def confusion_rows(labels: np.ndarray, logits: np.ndarray) -> pd.DataFrame:
    """One row per text, the long format DVC's confusion template reads."""
    names = np.array(["negative", "positive"])
    return pd.DataFrame({"actual": names[labels], "predicted": names[(logits > 0).astype(int)]})


def throughput(predict: Callable[[Sequence[str]], object], texts: Sequence[str], repeats: int):
    """Median texts per second of ``predict`` over ``repeats`` timed calls (after one warm-up)."""
    predict(texts[: min(len(texts), 8)])
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return float(np.median(rates))


def flatten(per_model: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        f"{model}_{key}": value
        for model, values in per_model.items()
        for key, value in values.items()
    }


def report_markdown(
    per_model: dict[str, dict[str, float]], test_size: int, dataset: str, teacher_title: str
) -> str:
    """Every model's test scores, each distilled student's gain over its gold-label twin, and the
    paper's Table 1 beside them when the run is on the paper's dataset (IMDB)."""
    paper = paper_applies(dataset)
    intro = f"Test accuracy on {test_size:,} {dataset} test texts."
    if paper:
        intro += (
            " Paper: Sridhar et al. 2020, Table 1 (BERT-base teacher; students on gold labels vs "
            "distilled from the teacher's logits)."
        )
    scores = [["model", *(["paper"] if paper else []), "ours", "F1", "ROC-AUC"]]
    scores[0] += ["agreement with teacher", "size (bytes)"]
    titles = {TEACHER: teacher_title} | {student.name: student.title for student in STUDENTS}
    for name, title in titles.items():
        values = per_model[name]
        agreement = "-" if name == TEACHER else f"{values['agreement']:.4f}"
        scores.append(
            [title, *([f"{PAPER_TABLE[name]:.2f}"] if paper else [])]
            + [f"{values[key]:.4f}" for key in ("accuracy", "f1", "roc_auc")]
            + [agreement, f"{int(values['size_bytes']):,}"]
        )
    gains = [["student", *(["paper: distilled - gold"] if paper else []), "ours: distilled - gold"]]
    for kind in KINDS:
        distilled, baseline = f"{kind}_distilled", f"{kind}_baseline"
        gain = per_model[distilled]["accuracy"] - per_model[baseline]["accuracy"]
        paper_gain = [f"{PAPER_TABLE[distilled] - PAPER_TABLE[baseline]:+.3f}"] if paper else []
        gains.append([KIND_TITLES[kind], *paper_gain, f"{gain:+.3f}"])
    lines = ["# Results: paper vs this pipeline" if paper else "# Results", "", intro, ""]
    lines += _table(scores) + [""] + _table(gains)
    lines += ["", f"Teacher test accuracy: {per_model[TEACHER]['accuracy']:.4f}.", ""]
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    """Markdown rows: the first column left-aligned, numbers right-aligned."""
    rule = "|---|" + "---:|" * (len(rows[0]) - 1)
    return ["| " + " | ".join(rows[0]) + " |", rule] + [
        "| " + " | ".join(r) + " |" for r in rows[1:]
    ]
