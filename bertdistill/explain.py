"""LIME explanations of the teacher and the students, and the students' global views."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lime.lime_text import LimeTextExplainer
from tqdm.auto import tqdm

from bertdistill.attributions import Attribution, review_words
from bertdistill.config import SENTIMENT_CLASSES
from bertdistill.explain_report import PER_CLASS
from bertdistill.pairs import SIDES
from bertdistill.registry import LINEAR_STUDENTS, STUDENT_NAMES
from bertdistill.tables import frame_texts
from bertdistill.texts import WORD, Text, text_parts

if TYPE_CHECKING:
    from bertdistill.students import Students

logger = logging.getLogger(__name__)

GLOBAL_WORDS = 15  # n-grams per direction in the global view of each linear student
TREE_LEVELS = 3  # tree levels shown in the global view

Proba = Callable[[Sequence[Text]], np.ndarray]


def explain(
    proba: Proba,
    text: Text,
    num_features: int,
    num_samples: int,
    seed: int,
    label: int = 1,
) -> list[tuple[str, float]]:
    """One LIME explanation of class ``label``'s probability (the positive class's for two
    classes), its words strongest first, with its own seeded explainer, so it does not depend
    on call order. A sentence pair is explained as one text of its side-prefixed words
    (``p_<word>``, ``h_<word>``), each perturbed text read back into a pair for the model."""
    explainer = LimeTextExplainer(random_state=seed)
    if isinstance(text, str):
        classify, shown = proba, text
    else:
        shown = " ".join(side + match.group() for side, part in zip(SIDES, text, strict=True)
                         for match in WORD.finditer(part))  # fmt: skip

        def classify(texts: Sequence[str]) -> np.ndarray:
            return proba([_as_pair(joined) for joined in texts])

    result = explainer.explain_instance(
        shown, classify, labels=(label,), num_features=num_features, num_samples=num_samples
    )
    return [(word, round(float(weight), 6)) for word, weight in result.as_list(label=label)]


def _as_pair(joined: str) -> tuple[str, str]:
    """A text of side-prefixed words back as (premise, hypothesis)."""
    tokens = joined.split()
    return tuple(  # type: ignore[return-value]
        " ".join(token.removeprefix(side) for token in tokens if token.startswith(side))
        for side in SIDES
    )


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
    targets: Sequence[int] | None = None,
) -> list[dict]:
    """One record per review (id, label, text) with every classifier's LIME explanation over
    all the review's words, strongest first (LIME weighs each word in one fit, so its
    faithfulness is measured on the full ranking; the report shows the top few); with K
    classes, of class ``targets[review]``."""
    records = []
    total = len(reviews) * len(classifiers)
    with tqdm(total=total, desc="LIME", unit="explanation", disable=not progress) as bar:
        for position, text in enumerate(frame_texts(reviews)):
            models = {}
            # LIME tells spellings apart: all occurrences bound its distinct features
            every_word = sum(len(WORD.findall(part)) for part in text_parts(text))
            label = 1 if targets is None else int(targets[position])
            for name, proba in classifiers.items():
                # One seed per review, shared by all models: each sees the same perturbed texts.
                words = explain(proba, text, every_word, num_samples, seed + position, label)
                models[name] = {"words": words}
                bar.update(1)
            row = reviews.iloc[position]
            records.append(
                {"id": row["id"], "label": int(row["label"]), "text": text, "models": models}
            )
    return records


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
    per_class = {PER_CLASS: True} if len(classes) > 2 else {}  # two classes: the old views
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


def lime_attribution(words: list[tuple[str, float]], text: Text) -> Attribution:
    """LIME's weights as an attribution over the review's words: LIME tells case apart and this
    does not, so the weights of one word's spellings add up; words LIME left out weigh 0."""
    result = dict.fromkeys(review_words(text), 0.0)
    for word, weight in words:
        result[word.lower()] = result.get(word.lower(), 0.0) + weight
    return Attribution(result)
