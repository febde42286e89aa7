"""What evaluate measures on the test texts: accuracy, F1, ROC-AUC and agreement with the
teacher, ROC points and confusion rows for DVC's plots, and prediction throughput."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

from bertdistill.core.logits import predicted_classes, softmax
from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.registry import TEACHER
from bertdistill.evaluation.statistics import INTERVAL_SUFFIXES, difference_key, twins


def classification_metrics(
    labels: np.ndarray,
    logits: np.ndarray,
    teacher_logits: np.ndarray,
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> dict[str, float]:
    """Accuracy, F1 and ROC-AUC against gold labels, and agreement with the teacher's labels.
    With K > 2 ``classes`` (one logit column each): macro-F1, one-vs-rest ROC-AUC (macro) and
    each class's accuracy (``accuracy_<class>``: the share of its texts classified right)."""
    predicted = predicted_classes(logits)
    found = {"accuracy": float(accuracy_score(labels, predicted))}
    if np.ndim(logits) == 1:
        found["f1"] = float(f1_score(labels, predicted))
        found["roc_auc"] = float(roc_auc_score(labels, logits))
    else:
        ids = list(range(len(classes)))
        found["macro_f1"] = float(f1_score(labels, predicted, labels=ids, average="macro"))
        found["roc_auc"] = float(
            roc_auc_score(labels, softmax(logits), multi_class="ovr", labels=ids)
        )
        for index, name in enumerate(classes):
            found[f"accuracy_{name}"] = float(np.mean(predicted[labels == index] == index))
    found["agreement"] = float(np.mean(predicted == predicted_classes(teacher_logits)))
    return found


def roc_points(labels: np.ndarray, logits: np.ndarray) -> pd.DataFrame:
    """The ROC curve's points; with K classes, the micro-average over one-vs-rest decisions."""
    if np.ndim(logits) == 2:
        one_hot = np.eye(np.shape(logits)[1], dtype=int)[labels]
        labels, logits = one_hot.ravel(), softmax(logits).ravel()
    fpr, tpr, _ = roc_curve(labels, logits, drop_intermediate=True)
    return pd.DataFrame({"fpr": fpr.round(5), "tpr": tpr.round(5)})


def confusion_rows(
    labels: np.ndarray, logits: np.ndarray, classes: Sequence[str] = SENTIMENT_CLASSES
) -> pd.DataFrame:
    """One row per text with class names, the long format DVC's confusion template reads."""
    names = np.array(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predicted_classes(logits)]})


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


def headline(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """The few figures ``dvc metrics show`` prints, one file of ``metrics/accuracy/`` per row:
    the teacher's test accuracy (``teacher``), and per student kind the gold-label and distilled
    accuracies and the distilled minus the gold-label one (``gain``) with its paired 95%
    interval. Every row shares its column names, so the table is as wide as one row. ``metrics``
    are evaluate's full metrics (``metrics/evaluate.json``), which keep everything else."""
    rows = {TEACHER: {"accuracy": metrics[f"{TEACHER}_accuracy"]}}
    for kind, (model, reference) in twins().items():
        rows[kind] = {
            "baseline": metrics[f"{reference}_accuracy"],
            "distilled": metrics[f"{model}_accuracy"],
        } | {
            f"gain{suffix}": metrics[f"{difference_key(model, reference)}{suffix}"]
            for suffix in INTERVAL_SUFFIXES
        }
    return rows
