"""Scores, plots data, throughput and the paper-versus-ours report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

from bertdistill.registry import KIND_TITLES, KINDS, PAPER_TABLE


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


def report_markdown(per_model: dict[str, dict[str, float]], test_size: int) -> str:
    """The paper's Table 1 beside ours, with each distilled student's gain over its baseline."""
    teacher = per_model["teacher"]
    lines = [
        "# Results: paper vs this pipeline",
        "",
        f"Test accuracy on {test_size:,} IMDB test reviews. Paper: Sridhar et al. 2020, Table 1 "
        "(BERT teacher; students on gold labels vs distilled from the teacher's logits).",
        "",
        "| model | paper | ours | F1 | ROC-AUC | agreement with teacher | size (bytes) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row("Teacher (BERT)", "teacher", per_model),
    ]
    for kind in KINDS:
        for variant in ("baseline", "distilled"):
            label = (
                f"{KIND_TITLES[kind]}, {'gold labels' if variant == 'baseline' else 'distilled'}"
            )
            lines.append(_row(label, f"{kind}_{variant}", per_model))
    lines += [
        "",
        "| student | paper: distilled - gold | ours: distilled - gold |",
        "|---|---:|---:|",
    ]
    for kind in KINDS:
        paper_gain = PAPER_TABLE[f"{kind}_distilled"] - PAPER_TABLE[f"{kind}_baseline"]
        gain = (
            per_model[f"{kind}_distilled"]["accuracy"] - per_model[f"{kind}_baseline"]["accuracy"]
        )
        lines.append(f"| {KIND_TITLES[kind]} | {paper_gain:+.3f} | {gain:+.3f} |")
    lines += ["", f"Teacher test accuracy: {teacher['accuracy']:.4f}.", ""]
    return "\n".join(lines)


def _row(label: str, name: str, per_model: dict[str, dict[str, float]]) -> str:
    values = per_model[name]
    agreement = "-" if name == "teacher" else f"{values['agreement']:.4f}"
    return (
        f"| {label} | {PAPER_TABLE[name]:.2f} | {values['accuracy']:.4f} | {values['f1']:.4f} | "
        f"{values['roc_auc']:.4f} | {agreement} | {int(values['size_bytes']):,} |"
    )
