"""LIME explanations of the teacher and the students, and how much they agree."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from lime.lime_text import LimeTextExplainer
from scipy.stats import spearmanr

logger = logging.getLogger(__name__)

CLASS_NAMES = ["negative", "positive"]


@dataclass
class Explanation:
    words: list[tuple[str, float]]
    probability: float
    local_fit: float


def explain(
    proba: Callable[[Sequence[str]], np.ndarray],
    text: str,
    num_features: int,
    num_samples: int,
    seed: int,
) -> Explanation:
    """One LIME explanation with its own seeded explainer, so it does not depend on call order."""
    explainer = LimeTextExplainer(class_names=CLASS_NAMES, random_state=seed)
    result = explainer.explain_instance(
        text, proba, labels=(1,), num_features=num_features, num_samples=num_samples
    )
    words = [(word, round(float(weight), 6)) for word, weight in result.as_list(label=1)]
    return Explanation(
        words=words,
        probability=float(result.predict_proba[1]),
        local_fit=float(result.score),
    )


def top_words(words: list[tuple[str, float]], k: int) -> list[str]:
    ranked = sorted(words, key=lambda item: -abs(item[1]))
    return [word for word, _ in ranked[:k]]


def overlap(student: list[tuple[str, float]], teacher: list[tuple[str, float]], k: int) -> float:
    """Share of the teacher's top-k words (by |weight|) that are also in the student's top k."""
    teacher_top = set(top_words(teacher, k))
    if not teacher_top:
        return 0.0
    return len(teacher_top & set(top_words(student, k))) / len(teacher_top)


def rank_correlation(student: list[tuple[str, float]], teacher: list[tuple[str, float]]) -> float:
    """Spearman correlation of the weights of words both explanations contain (0 if < 3 shared)."""
    student_weights, teacher_weights = dict(student), dict(teacher)
    shared = sorted(set(student_weights) & set(teacher_weights))
    if len(shared) < 3:
        return 0.0
    correlation = spearmanr(
        [student_weights[w] for w in shared], [teacher_weights[w] for w in shared]
    ).statistic
    return 0.0 if np.isnan(correlation) else float(correlation)


def linear_top_words(
    vocabulary: np.ndarray, weights: np.ndarray, k: int
) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` most positive and most negative features of a linear student."""
    weights = np.asarray(weights).ravel()
    order = np.argsort(weights, kind="stable")
    return {
        "positive": [(str(vocabulary[i]), round(float(weights[i]), 6)) for i in order[::-1][:k]],
        "negative": [(str(vocabulary[i]), round(float(weights[i]), 6)) for i in order[:k]],
    }


def tree_top_levels(model, vocabulary: np.ndarray, depth: int) -> str:
    """The first ``depth`` levels of a fitted tree as indented text, features named by n-gram."""
    from sklearn.tree import export_text

    return export_text(model, feature_names=[str(word) for word in vocabulary], max_depth=depth)
