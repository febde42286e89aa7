"""Word attributions every explainer gives in one form, and the perturbed texts that test them.

An attribution maps each distinct word of a review (lowercased, as ``\\w+`` finds it) to how much
it moves the model's output towards the positive class. Words are word *types*: removing a word
removes every occurrence, as LIME's bag-of-words mode and the students' TF-IDF features see it.

The students' attributions are exact: for a linear student each n-gram contributes its weight
times its TF-IDF value, and these plus the intercept are the student's output; for a tree each
split on the decision path contributes the change in node value it makes, and these plus the
root's value are the leaf's value (Saabas). An n-gram's contribution is split evenly among its
words; contributions of n-grams absent from the review (a tree may split on them) belong to no
word of it and are kept apart as ``absent``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bertdistill.pairs import WORD

_SPACES = re.compile(r"\s+")


def review_words(text: str) -> list[str]:
    """The distinct words of ``text``, lowercased, in order of first appearance."""
    return list(dict.fromkeys(match.group().lower() for match in WORD.finditer(text)))


def without_words(text: str, words: Iterable[str]) -> str:
    """``text`` with every occurrence of ``words`` removed (whole words, any case)."""
    drop = set(words)
    kept = WORD.sub(lambda match: "" if match.group().lower() in drop else match.group(), text)
    return _SPACES.sub(" ", kept).strip()


def only_words(text: str, words: Iterable[str]) -> str:
    """The occurrences of ``words`` in ``text``, in order, joined by spaces."""
    keep = set(words)
    return " ".join(m.group() for m in WORD.finditer(text) if m.group().lower() in keep)


@dataclass(frozen=True)
class Attribution:
    """Per-word contributions to a model's output on one review; what no word of the review
    carries (``bias``: an intercept, a tree's root value, the teacher's logit at its baseline;
    ``absent``: a student's features of words the review lacks, the teacher's punctuation
    pieces); and the output they add up to (None where nothing adds up, as for occlusion)."""

    words: dict[str, float]
    bias: float = 0.0
    absent: float = 0.0
    output: float | None = None

    def total(self) -> float:
        return self.bias + self.absent + sum(self.words.values())

    def ranked(self, sign: int, seed: int) -> list[str]:
        """The words by contribution towards the class ``sign`` (+1 positive, -1 negative),
        strongest first; ties (a tree gives most words 0) in a seeded random order, not the
        review's, which would favour its opening words."""
        order = np.random.default_rng(seed).permutation(len(self.words))
        keyed = zip(self.words.items(), order, strict=True)
        return [word for (word, _), _ in sorted(keyed, key=lambda x: (-sign * x[0][1], x[1]))]

    def strongest(self, k: int) -> list[str]:
        """Up to ``k`` words with the largest |contribution|, none of them 0."""
        nonzero = [word for word in self.words if self.words[word] != 0]
        return sorted(nonzero, key=lambda word: -abs(self.words[word]))[:k]


def feature_contributions(
    model: BaseEstimator, row: sp.csr_matrix
) -> tuple[dict[int, float], float]:
    """Exact contributions of ``model``'s features to its raw output on one featurised text
    (decision function or regression output; for a classifier tree, the positive class's leaf
    frequency), and the part no feature carries (intercept or root value)."""
    row = sp.csr_matrix(row)
    if isinstance(model, (DecisionTreeClassifier, DecisionTreeRegressor)):
        return _tree_contributions(model, row)
    coef = np.asarray(model.coef_, dtype=np.float64).ravel()
    intercept = float(np.asarray(model.intercept_, dtype=np.float64).ravel()[0])
    return {
        int(j): float(coef[j] * v) for j, v in zip(row.indices, row.data, strict=True)
    }, intercept


def _tree_contributions(model, row: sp.csr_matrix) -> tuple[dict[int, float], float]:
    tree = model.tree_
    values = tree.value[:, 0, :]
    # A classifier's node value is its class frequencies (scikit-learn >= 1.4): take the positive
    # class's; a regressor's is its mean target.
    values = values[:, 1] if isinstance(model, DecisionTreeClassifier) else values[:, 0]
    path = model.decision_path(row).indices  # root first, leaf last
    contributions: dict[int, float] = {}
    for parent, child in zip(path[:-1], path[1:], strict=True):
        feature = int(tree.feature[parent])
        contributions[feature] = contributions.get(feature, 0.0) + float(
            values[child] - values[parent]
        )
    return contributions, float(values[path[0]])


def raw_output(model: BaseEstimator, row: sp.csr_matrix) -> float:
    """What :func:`feature_contributions` adds up to."""
    if isinstance(model, DecisionTreeClassifier):
        return float(model.predict_proba(row)[0, 1])
    if hasattr(model, "decision_function"):
        return float(model.decision_function(row)[0])
    return float(model.predict(row)[0])


def student_attribution(
    model: BaseEstimator, featurizer, vocabulary: np.ndarray, text: str, row=None
) -> Attribution:
    """``model``'s exact attribution on ``text`` (featurised as ``row`` if given), its n-grams'
    contributions split evenly among their words."""
    row = featurizer.transform([text]) if row is None else sp.csr_matrix(row)
    contributions, bias = feature_contributions(model, row)
    present = set(row.indices.tolist())
    words = dict.fromkeys(review_words(text), 0.0)
    absent = 0.0
    for feature, value in contributions.items():
        parts = str(vocabulary[feature]).split(" ")
        if feature not in present or not all(part in words for part in parts):
            absent += value
            continue
        for part in parts:
            words[part] += value / len(parts)
    return Attribution(words, bias=bias, absent=absent, output=raw_output(model, row))
