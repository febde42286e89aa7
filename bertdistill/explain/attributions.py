"""Word attributions every explainer gives in one form, and the perturbed texts that test them.

An attribution maps each distinct word of a review (lowercased, as ``\\w+`` finds it) to how much
it moves the model's output towards the positive class (with K classes: towards the class
explained). Words are word *types*: removing a word removes every occurrence, as LIME's
bag-of-words mode and the students' TF-IDF features see it. A sentence pair's words are its
premise's (``p_<word>``) and its hypothesis' (``h_<word>``), two words for one spelling.

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
from sklearn.multioutput import MultiOutputRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bertdistill.core.texts import WORD, Text
from bertdistill.students.pair_features import SIDES, side_word, student_text

_SPACES = re.compile(r"\s+")


def review_words(text: Text) -> list[str]:
    """The distinct words of ``text``, lowercased, in order of first appearance (a pair's
    premise words, then its hypothesis words, each with its side's prefix)."""
    if not isinstance(text, str):
        return [word for side, part in zip(SIDES, text, strict=True)
                for word in review_words(_prefixed(part, side))]  # fmt: skip
    return list(dict.fromkeys(match.group().lower() for match in WORD.finditer(text)))


def _prefixed(text: str, side: str) -> str:
    return " ".join(side + match.group() for match in WORD.finditer(text))


def without_words(text: Text, words: Iterable[str]) -> Text:
    """``text`` with every occurrence of ``words`` removed (whole words, any case); a pair
    loses each side's words from that side."""
    drop = set(words)
    if not isinstance(text, str):
        return tuple(  # type: ignore[return-value]
            without_words(part, _side_words(drop, side))
            for side, part in zip(SIDES, text, strict=True)
        )
    kept = WORD.sub(lambda match: "" if match.group().lower() in drop else match.group(), text)
    return _SPACES.sub(" ", kept).strip()


def only_words(text: Text, words: Iterable[str]) -> Text:
    """The occurrences of ``words`` in ``text``, in order, joined by spaces (per side of a
    pair)."""
    keep = set(words)
    if not isinstance(text, str):
        return tuple(  # type: ignore[return-value]
            only_words(part, _side_words(keep, side))
            for side, part in zip(SIDES, text, strict=True)
        )
    return " ".join(m.group() for m in WORD.finditer(text) if m.group().lower() in keep)


def _side_words(words: set[str], side: str) -> set[str]:
    """The words of one side of a pair, without their prefix."""
    return {word.removeprefix(side) for word in words if word.startswith(side)}


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


def completeness_gap(attribution: Attribution) -> float:
    """How far an attribution's parts miss its output; quadrature error for Integrated
    Gradients (zero for the exact student attributions)."""
    return attribution.total() - attribution.output


def feature_contributions(
    model: BaseEstimator, row: sp.csr_matrix, target: int | None = None
) -> tuple[dict[int, float], float]:
    """Exact contributions of ``model``'s features to its raw output on one featurised text
    (decision function or regression output; for a classifier tree, the positive class's leaf
    frequency; with K classes, the output for class ``target``), and the part no feature
    carries (intercept or root value)."""
    row = sp.csr_matrix(row)
    if isinstance(model, (DecisionTreeClassifier, DecisionTreeRegressor)):
        return _tree_contributions(model, row, target)
    if isinstance(model, MultiOutputRegressor):  # one LinearSVR per class
        model, target = model.estimators_[target], None
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64).ravel()
    if target is not None and coef.ndim == 2 and coef.shape[0] > 1:
        coef, intercept = coef[target], intercept[target : target + 1]
    coef = coef.ravel()
    return {int(j): float(coef[j] * v) for j, v in zip(row.indices, row.data, strict=True)}, float(
        intercept[0]
    )


def _tree_contributions(
    model, row: sp.csr_matrix, target: int | None
) -> tuple[dict[int, float], float]:
    tree = model.tree_
    # A classifier's node value is its class frequencies (scikit-learn >= 1.4): take the positive
    # class's (class ``target``'s); a regressor's is its mean target (per output).
    if isinstance(model, DecisionTreeClassifier):
        values = tree.value[:, 0, 1 if target is None else target]
    else:
        values = tree.value[:, 0 if target is None else target, 0]
    path = model.decision_path(row).indices  # root first, leaf last
    contributions: dict[int, float] = {}
    for parent, child in zip(path[:-1], path[1:], strict=True):
        feature = int(tree.feature[parent])
        contributions[feature] = contributions.get(feature, 0.0) + float(
            values[child] - values[parent]
        )
    return contributions, float(values[path[0]])


def raw_output(model: BaseEstimator, row: sp.csr_matrix, target: int | None = None) -> float:
    """What :func:`feature_contributions` adds up to."""
    if isinstance(model, DecisionTreeClassifier):
        return float(model.predict_proba(row)[0, 1 if target is None else target])
    output = np.asarray(
        model.decision_function(row) if hasattr(model, "decision_function") else model.predict(row)
    )
    return float(output[0] if output.ndim == 1 else output[0, target])


def student_attribution(
    model: BaseEstimator,
    featurizer,
    vocabulary: np.ndarray,
    text: Text,
    row=None,
    target: int | None = None,
) -> Attribution:
    """``model``'s exact attribution on ``text`` (featurised as ``row`` if given; with K
    classes, of its output for class ``target``), its n-grams' contributions split evenly among
    their words (a pair's cross features go to the hypothesis word they stand for)."""
    row = featurizer.transform([student_text(text)]) if row is None else sp.csr_matrix(row)
    contributions, bias = feature_contributions(model, row, target)
    present = set(row.indices.tolist())
    words = dict.fromkeys(review_words(text), 0.0)
    word_of = (lambda token: token) if isinstance(text, str) else side_word
    absent = 0.0
    for feature, value in contributions.items():
        parts = [word_of(token) for token in str(vocabulary[feature]).split(" ")]
        if feature not in present or not all(part in words for part in parts):
            absent += value
            continue
        for part in parts:
            words[part] += value / len(parts)
    return Attribution(words, bias=bias, absent=absent, output=raw_output(model, row, target))
