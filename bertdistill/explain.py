"""LIME explanations of the teacher and the students, and the students' global views."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lime.lime_text import LimeTextExplainer
from tqdm.auto import tqdm

from bertdistill.attributions import WORD, Attribution, review_words
from bertdistill.registry import LINEAR_STUDENTS, STUDENT_NAMES

if TYPE_CHECKING:
    from bertdistill.students import Students

logger = logging.getLogger(__name__)

CLASS_NAMES = ["negative", "positive"]
GLOBAL_WORDS = 15  # n-grams per direction in the global view of each linear student
TREE_LEVELS = 3  # tree levels shown in the global view

Proba = Callable[[Sequence[str]], np.ndarray]


def explain(
    proba: Proba,
    text: str,
    num_features: int,
    num_samples: int,
    seed: int,
) -> list[tuple[str, float]]:
    """One LIME explanation, its words strongest first, with its own seeded explainer, so it
    does not depend on call order."""
    explainer = LimeTextExplainer(class_names=CLASS_NAMES, random_state=seed)
    result = explainer.explain_instance(
        text, proba, labels=(1,), num_features=num_features, num_samples=num_samples
    )
    return [(word, round(float(weight), 6)) for word, weight in result.as_list(label=1)]


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


def choose_reviews(test_frame: pd.DataFrame, num_reviews: int, seed: int) -> pd.DataFrame:
    """``num_reviews`` rows drawn at random (all if there are fewer), kept in file order; a text
    without a word has nothing to explain and is never drawn."""
    worded = test_frame[test_frame["text"].map(lambda text: WORD.search(text) is not None)]
    if len(worded) < len(test_frame):
        logger.info("%d test texts hold no word: not explained", len(test_frame) - len(worded))
    rng = np.random.default_rng(seed)
    count = min(num_reviews, len(worded))
    return worded.iloc[np.sort(rng.choice(len(worded), count, replace=False))]


def explain_reviews(
    reviews: pd.DataFrame,
    classifiers: dict[str, Proba],
    num_samples: int,
    seed: int,
    progress: bool = True,
) -> list[dict]:
    """One record per review (id, label, text) with every classifier's LIME explanation over
    all the review's words, strongest first (LIME weighs each word in one fit, so its
    faithfulness is measured on the full ranking; the report shows the top few)."""
    records = []
    total = len(reviews) * len(classifiers)
    with tqdm(total=total, desc="LIME", unit="explanation", disable=not progress) as bar:
        for position, row in enumerate(reviews.itertuples()):
            models = {}
            every_word = len(WORD.findall(row.text))
            for name, proba in classifiers.items():
                # One seed per review, shared by all models: each sees the same perturbed texts.
                words = explain(proba, row.text, every_word, num_samples, seed + position)
                models[name] = {"words": words}
                bar.update(1)
            records.append(
                {"id": row.id, "label": int(row.label), "text": row.text, "models": models}
            )
    return records


def global_views(
    students: Students, words: int = GLOBAL_WORDS, levels: int = TREE_LEVELS
) -> dict[str, dict]:
    """What each student learned: the strongest n-grams of the linear ones, the top of the trees."""
    vocabulary = students.featurizer.get_feature_names_out()
    linear = {
        name: linear_top_words(vocabulary, students.models[name].coef_, words)
        for name in LINEAR_STUDENTS
    }
    trees = {
        name: tree_top_levels(students.models[name], vocabulary, levels)
        for name in STUDENT_NAMES
        if name not in LINEAR_STUDENTS
    }
    return {"linear": linear, "trees": trees}


def coefficient_table(words: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """A linear student's global view as long-format rows for `dvc plots`: positive first."""
    rows = [(word, weight) for side in ("positive", "negative") for word, weight in words[side]]
    return pd.DataFrame(rows, columns=["ngram", "weight"])


def lime_attribution(words: list[tuple[str, float]], text: str) -> Attribution:
    """LIME's weights as an attribution over the review's words: LIME tells case apart and this
    does not, so the weights of one word's spellings add up; words LIME left out weigh 0."""
    result = dict.fromkeys(review_words(text), 0.0)
    for word, weight in words:
        result[word.lower()] = result.get(word.lower(), 0.0) + weight
    return Attribution(result)
