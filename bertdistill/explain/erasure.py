"""How models' outputs move when an explanation's words are removed or kept: the model-side
measurements of faithfulness, which need only the model, its texts and its attributions (the
teacher's are taken once by the ``explain_teacher`` stage, the students' by ``explain``; their
intervals and comparisons are :mod:`bertdistill.explain.measures`).

- Faithfulness (ERASER, DeYoung et al. 2020): *comprehensiveness* is the drop in a model's
  probability of its predicted class when the explanation's top k% words are removed from the
  review, *sufficiency* the drop when only they are kept; each averaged over k in
  :data:`PERCENTS` (AOPC). Higher comprehensiveness and lower sufficiency are more faithful. A
  random ranking of the words gives the floor.
- Deletions: the same seeded random words removed from a review for every model; deletion
  fidelity compares the changes they cause.

With K classes every model is explained and scored on one class per review, the one the teacher
predicts (``targets``): its probability is the one ERASER's drops are measured in, the ranking
runs towards it, and deletions change its log-odds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import logsumexp

from bertdistill.core.logits import sigmoid
from bertdistill.core.texts import Text
from bertdistill.explain.attributions import Attribution, only_words, review_words, without_words

PERCENTS = (1, 5, 10, 20)  # k: share of a review's words removed or kept (ERASER's bins to 20%)
MEASURES = ("comprehensiveness", "sufficiency")  # ERASER's two, per review
Logits = Callable[[Sequence[Text]], np.ndarray]  # texts -> one logit each (K: K logits each)


def top_count(words: int, percent: float) -> int:
    """How many of a review's ``words`` are its top ``percent``%: at least one."""
    return max(1, math.ceil(words * percent / 100))


def eraser_texts(text: str, ranking: Sequence[str]) -> list[str]:
    """The review without, then with only, its top k% words, for each k of :data:`PERCENTS`."""
    tops = [ranking[: top_count(len(ranking), percent)] for percent in PERCENTS]
    return [without_words(text, top) for top in tops] + [only_words(text, top) for top in tops]


def explained_logits(logits: np.ndarray, targets: Sequence[int] | None = None) -> np.ndarray:
    """One logit per text: a two-class model's as it is; a K-class model's log-odds of class
    ``targets[i]`` against the others, whose sigmoid is that class's softmax probability."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        return logits
    rows, chosen = np.arange(len(logits)), np.asarray(targets)
    others = logits.copy()
    others[rows, chosen] = -np.inf
    return logits[rows, chosen] - logsumexp(others, axis=1)


def predicted_probability(logits: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Probability of the class each original text was predicted as (``positive`` per row)."""
    probability = sigmoid(np.asarray(logits, dtype=np.float64))
    return np.where(positive, probability, 1 - probability)


def eraser_measures(
    texts: Sequence[Text],
    rankings: Sequence[Sequence[str]],
    logits_of: Logits,
    original: np.ndarray,
    targets: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per review, comprehensiveness and sufficiency (AOPC over :data:`PERCENTS`) of the word
    ``rankings`` (strongest towards the predicted class first; with K classes, towards class
    ``targets[review]``, whose probability is measured) for the model ``logits_of`` runs, whose
    logits on the unperturbed ``texts`` are ``original``. One batched call."""
    perturbed = [variant for text, ranking in zip(texts, rankings, strict=True)
                 for variant in eraser_texts(text, ranking)]  # fmt: skip
    per_variant = None if targets is None else np.repeat(targets, 2 * len(PERCENTS))
    perturbed_logits = explained_logits(logits_of(perturbed), per_variant)
    perturbed_logits = perturbed_logits.reshape(len(texts), 2, len(PERCENTS))
    original = explained_logits(original, targets)
    positive = original > 0 if targets is None else np.ones(len(texts), dtype=bool)
    base = predicted_probability(original, positive)[:, None]
    removed = predicted_probability(perturbed_logits[:, 0], positive[:, None])
    kept = predicted_probability(perturbed_logits[:, 1], positive[:, None])
    return (base - removed).mean(axis=1), (base - kept).mean(axis=1)


def ranking_for_prediction(attribution: Attribution, logit: float | None, seed: int) -> list[str]:
    """The review's words, strongest towards the class the model predicted first (``logit``
    None: towards the class the attribution explains, a K-class model's), ties in a random
    order drawn with ``seed``."""
    return attribution.ranked(1 if logit is None or logit > 0 else -1, seed)


def random_ranking(text: Text, seed: int) -> list[str]:
    """The review's words in a seeded random order: the faithfulness floor."""
    words = review_words(text)
    return [words[i] for i in np.random.default_rng(seed).permutation(len(words))]


def deletions(text: Text, count: int, share: float, seed: int) -> list[Text]:
    """``count`` copies of the review, each without a seeded random ``share`` of its words."""
    words = review_words(text)
    rng = np.random.default_rng(seed)
    size = top_count(len(words), share * 100)
    return [without_words(text, rng.choice(words, size, replace=False)) for _ in range(count)]


def deletion_texts(texts: Sequence[Text], count: int, share: float, seed: int) -> list[Text]:
    """Every review's :func:`deletions` (review ``i`` drawn with ``seed + i``), review by review:
    the texts every model is scored on for deletion fidelity."""
    return [variant for position, text in enumerate(texts)
            for variant in deletions(text, count, share, seed + position)]  # fmt: skip


def logit_changes(
    deleted: np.ndarray,
    original: np.ndarray,
    count: int,
    targets: Sequence[int] | None = None,
) -> np.ndarray:
    """A model's logit change (reviews x ``count``) from its logits on the ``original`` reviews
    to its logits on their :func:`deletion_texts` (K classes: the change of class
    ``targets[review]``'s log-odds)."""
    per_variant = None if targets is None else np.repeat(targets, count)
    return (
        explained_logits(deleted, per_variant).reshape(len(original), count)
        - (explained_logits(original, targets)[:, None])
    )


def eraser_values(
    texts: Sequence[Text],
    logits_of: Logits,
    original: np.ndarray,
    attributions: Sequence[Attribution],
    seed: int,
    targets: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Per measure, each review's comprehensiveness and sufficiency (AOPC) under the ranking
    its attribution gives the predicted class (K classes: class ``targets[review]``);
    ``attributions`` cover the first reviews of ``texts``, review ``i`` breaking ties with
    ``seed + i``."""
    count = len(attributions)
    ranked = [
        ranking_for_prediction(
            item, None if targets is not None else original[position], seed + position
        )
        for position, item in enumerate(attributions)
    ]
    chosen = None if targets is None else targets[:count]
    measures = eraser_measures(texts[:count], ranked, logits_of, original[:count], chosen)
    return dict(zip(MEASURES, measures, strict=True))


def random_floor_values(
    texts: Sequence[Text],
    logits_of: Logits,
    original: np.ndarray,
    seed: int,
    targets: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`eraser_values` of a seeded random ranking of each review's words (review ``i``
    drawn with ``seed + i``): the floor every explainer must beat."""
    rankings = [random_ranking(text, seed + position) for position, text in enumerate(texts)]
    measures = eraser_measures(texts, rankings, logits_of, original, targets)
    return dict(zip(MEASURES, measures, strict=True))
