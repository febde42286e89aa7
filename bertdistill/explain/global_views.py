"""The students' global views: a linear student's strongest n-grams each way, a tree's top
levels, as the explain report and its coefficient plots show them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.registry import LINEAR_STUDENTS, STUDENT_NAMES

if TYPE_CHECKING:
    from bertdistill.students.models import Students

PER_CLASS = "per_class"  # global views key, set (True) where linear views list each class's n-grams
GLOBAL_WORDS = 15  # n-grams per direction in the global view of each linear student
TREE_LEVELS = 3  # tree levels shown in the global view


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


def linear_weights(model) -> np.ndarray:
    """A linear student's weights, one row per output (one row for two classes)."""
    if hasattr(model, "estimators_"):  # MultiOutputRegressor: one LinearSVR per class
        return np.vstack([np.ravel(estimator.coef_) for estimator in model.estimators_])
    return np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))


def linear_view(
    vocabulary: np.ndarray, model, k: int, classes: Sequence[str]
) -> dict[str, list[tuple[str, float]]]:
    """Two classes: the ``k`` most positive and most negative n-grams; K classes: each class's
    ``k`` strongest n-grams towards it."""
    weights = linear_weights(model)
    if len(weights) == 1:
        return linear_top_words(vocabulary, weights[0], k)
    return {
        name: linear_top_words(vocabulary, row, k)["positive"]
        for name, row in zip(classes, weights, strict=True)
    }


def global_views(
    students: Students,
    words: int = GLOBAL_WORDS,
    levels: int = TREE_LEVELS,
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> dict[str, dict]:
    """What each student learned: the strongest n-grams of the linear ones, the top of the trees."""
    vocabulary = students.featurizer.get_feature_names_out()
    linear = {
        name: linear_view(vocabulary, students.models[name], words, classes)
        for name in LINEAR_STUDENTS
    }
    per_class = {PER_CLASS: True} if len(classes) > 2 else {}  # two classes: positive, negative
    trees = {
        name: tree_top_levels(students.models[name], vocabulary, levels)
        for name in STUDENT_NAMES
        if name not in LINEAR_STUDENTS
    }
    return {"linear": linear, "trees": trees} | per_class


def coefficient_table(
    words: dict[str, list[tuple[str, float]]], per_class: bool = False
) -> pd.DataFrame:
    """A linear student's global view as long-format rows for `dvc plots`: positive first
    (``per_class``, K classes: each class's n-grams, named ``class: n-gram``)."""
    rows = [
        (f"{side}: {word}" if per_class else word, weight)
        for side, side_words in words.items()
        for word, weight in side_words
    ]
    return pd.DataFrame(rows, columns=["ngram", "weight"])
