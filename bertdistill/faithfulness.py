"""How faithful explanations are to their model, and how alike the students and the teacher are.

- Faithfulness (ERASER, DeYoung et al. 2020): *comprehensiveness* is the drop in a model's
  probability of its predicted class when the explanation's top k% words are removed from the
  review, *sufficiency* the drop when only they are kept; each averaged over k in
  :data:`PERCENTS` (AOPC). Higher comprehensiveness and lower sufficiency are more faithful. A
  random ranking of the words gives the floor.
- Agreement: per review, top-k overlap and Spearman rank correlation of a student's word
  attributions with the teacher's.
- Deletion fidelity: when the same random words are removed from a review, does a student's
  change in logit track the teacher's? Spearman correlation over reviews and deletions.

Every figure is a mean over reviews with a 95% bootstrap interval over reviews; a distilled
student and its gold-label twin are compared on the same resamples (paired).

With K classes every model is explained, scored and compared on one class per review, the one
the teacher predicts (``targets``): its probability is the one ERASER's drops are measured in,
the ranking runs towards it, and deletion fidelity compares changes of its log-odds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import logsumexp
from scipy.stats import spearmanr

from bertdistill.attributions import Attribution, only_words, review_words, without_words
from bertdistill.evaluation import Interval
from bertdistill.scoring import sigmoid
from bertdistill.texts import Text

PERCENTS = (1, 5, 10, 20)  # k: share of a review's words removed or kept (ERASER's bins to 20%)
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


def eraser_scores(
    texts: Sequence[Text],
    rankings: Sequence[Sequence[str]],
    logits: Logits,
    original: np.ndarray,
    targets: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per review, comprehensiveness and sufficiency (AOPC over :data:`PERCENTS`) of the word
    ``rankings`` (strongest towards the predicted class first; with K classes, towards class
    ``targets[review]``, whose probability is measured) for the model ``logits`` scores, whose
    logits on the unperturbed ``texts`` are ``original``. One batched call."""
    perturbed = [variant for text, ranking in zip(texts, rankings, strict=True)
                 for variant in eraser_texts(text, ranking)]  # fmt: skip
    per_variant = None if targets is None else np.repeat(targets, 2 * len(PERCENTS))
    scores = explained_logits(logits(perturbed), per_variant)
    scores = scores.reshape(len(texts), 2, len(PERCENTS))
    original = explained_logits(original, targets)
    positive = original > 0 if targets is None else np.ones(len(texts), dtype=bool)
    base = predicted_probability(original, positive)[:, None]
    removed = predicted_probability(scores[:, 0], positive[:, None])
    kept = predicted_probability(scores[:, 1], positive[:, None])
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


def top_overlap(student: Attribution, teacher: Attribution, k: int) -> float:
    """Share of the teacher's top-k words (by |attribution|) among the student's top k; a word
    the student gives 0 is never among its top (a tree weighs only the words on its path)."""
    teacher_top = set(teacher.strongest(k))
    student_top = set(student.strongest(k))
    return len(teacher_top & student_top) / len(teacher_top) if teacher_top else 0.0


def rank_correlation(student: Attribution, teacher: Attribution) -> float:
    """Spearman correlation of the two attributions over the review's words; 0 when either is
    constant (a tree whose path tests none of the review's words says nothing about them)."""
    words = list(teacher.words)
    student_values = [student.words.get(word, 0.0) for word in words]
    teacher_values = [teacher.words[word] for word in words]
    if len(words) < 2 or len(set(student_values)) < 2 or len(set(teacher_values)) < 2:
        return 0.0
    return float(spearmanr(student_values, teacher_values).statistic)


def deletions(text: Text, count: int, share: float, seed: int) -> list[Text]:
    """``count`` copies of the review, each without a seeded random ``share`` of its words."""
    words = review_words(text)
    rng = np.random.default_rng(seed)
    size = top_count(len(words), share * 100)
    return [without_words(text, rng.choice(words, size, replace=False)) for _ in range(count)]


def deletion_fidelity(
    changes: dict[str, np.ndarray], teacher_changes: np.ndarray, resamples: int, seed: int
) -> tuple[dict[str, Interval], dict[str, np.ndarray]]:
    """Per student, the Spearman correlation of its logit changes with the teacher's under the
    same deletions (arrays of reviews x deletions), with a bootstrap interval over reviews; and
    the bootstrap values (every student on the same resamples, for paired differences)."""
    teacher_changes = np.asarray(teacher_changes)
    reviews = len(teacher_changes)
    rng = np.random.default_rng(seed)
    resampled = [rng.integers(0, reviews, reviews) for _ in range(resamples)]
    intervals, samples = {}, {}
    for name, student_changes in changes.items():
        ours = np.asarray(student_changes)
        samples[name] = np.array([_correlation(ours, teacher_changes, r) for r in resampled])
        everyone = np.arange(reviews)
        intervals[name] = Interval.percentile(
            _correlation(ours, teacher_changes, everyone), samples[name]
        )
    return intervals, samples


def _correlation(ours: np.ndarray, theirs: np.ndarray, rows: np.ndarray) -> float:
    """Spearman correlation of the changes of the reviews ``rows``; 0 when either is constant."""
    ours, theirs = ours[rows].ravel(), theirs[rows].ravel()
    if np.ptp(ours) == 0 or np.ptp(theirs) == 0:
        return 0.0
    return float(spearmanr(ours, theirs).statistic)
