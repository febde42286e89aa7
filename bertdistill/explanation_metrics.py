"""The explain stage's figures: the faithfulness of every model x explainer, and how alike each
student explains and behaves to the teacher, each with a 95% interval over reviews.

Metrics keys (flat, in ``metrics/explain.json``), each with ``_ci_low`` and ``_ci_high``:

- ``<model>_<explainer>_comprehensiveness`` and ``_sufficiency`` (means over reviews), with
  ``_reviews`` (how many) and ``..._vs_random`` (minus the random floor on the same reviews,
  paired) and ``..._vs_<reference>`` (minus the model's reference explainer, :data:`REFERENCES`,
  on the same reviews, paired); an explainer on fewer than ``explain.min_interval_reviews``
  reviews has its means only, no interval and no difference;
- ``<student>_top<k>_overlap``, ``<student>_rank_correlation`` (means over reviews of its exact
  attribution against the teacher's guided occlusion, :data:`TEACHER_METHOD`) and
  ``<student>_deletion_fidelity`` (one Spearman correlation over every review's deletions);
- ``<kind>_distilled_vs_<kind>_baseline_<measure>_diff``: the paired difference of a distilled
  student and its gold-label twin in each of those three;
- ``teacher_integrated_gradients_mean_abs_gap`` (:data:`GAP_KEY`): how far Integrated
  Gradients' parts miss the teacher's logit minus its baseline logit, on average.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bertdistill.attributions import Attribution
from bertdistill.evaluation import Interval, mean_intervals, paired_difference, twins
from bertdistill.faithfulness import (
    Logits,
    deletion_fidelity,
    deletions,
    eraser_scores,
    explained_logits,
    random_ranking,
    rank_correlation,
    ranking_for_prediction,
    top_overlap,
)
from bertdistill.registry import STUDENT_NAMES, TEACHER
from bertdistill.texts import Text

RANDOM = "random"  # the floor: a seeded random ranking of each review's words
IG_METHOD = "integrated_gradients"
# The teacher's reference attribution (all reviews): as faithful as LIME with 1,000 samples at a
# sixteenth of its cost (bench/teacher_attribution.py, README "Benchmarks").
TEACHER_METHOD = "guided_occlusion"
STUDENT_METHOD = "exact"
# What each model's other explainers are compared with, paired on the reviews both cover.
REFERENCES = {TEACHER: TEACHER_METHOD} | dict.fromkeys(STUDENT_NAMES, STUDENT_METHOD)
GAP_KEY = f"{TEACHER}_{IG_METHOD}_mean_abs_gap"  # Integrated Gradients' quadrature error
MEASURES = ("comprehensiveness", "sufficiency")


def eraser_values(
    texts: Sequence[Text],
    score: Logits,
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
    scores = eraser_scores(texts[:count], ranked, score, original[:count], chosen)
    return dict(zip(MEASURES, scores, strict=True))


def random_floor_values(
    texts: Sequence[Text],
    score: Logits,
    original: np.ndarray,
    seed: int,
    targets: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`eraser_values` of a seeded random ranking of each review's words (review ``i``
    drawn with ``seed + i``): the floor every explainer must beat."""
    rankings = [random_ranking(text, seed + position) for position, text in enumerate(texts)]
    scores = eraser_scores(texts, rankings, score, original, targets)
    return dict(zip(MEASURES, scores, strict=True))


def faithfulness(
    texts: Sequence[Text],
    scorers: dict[str, Logits],
    original: dict[str, np.ndarray],
    attributions: dict[tuple[str, str], list[Attribution]],
    resamples: int,
    min_reviews: int,
    seed: int,
    targets: Sequence[int] | None = None,
) -> dict[tuple[str, str], dict[str, Interval | float | int]]:
    """Comprehensiveness and sufficiency of each (model, explainer)'s attributions, which cover
    the first ``len(...)`` of ``texts``, and of a random ranking for each model (all texts);
    each explainer also minus the random floor and minus its model's reference explainer
    (:data:`REFERENCES`) on the same reviews (paired). An explainer on
    fewer than ``min_reviews`` reviews gets its means only: a bootstrap over a handful of
    reviews has a handful of distinct means, no 95% interval."""
    floor = {
        model: random_floor_values(texts, score, original[model], seed, targets)
        for model, score in scorers.items()
    }
    results: dict[tuple[str, str], dict[str, Interval | float | int]] = {}
    for model in scorers:
        means, _ = mean_intervals(floor[model], resamples, seed)
        results[(model, RANDOM)] = means | {"reviews": len(texts)}
    values = {
        key: eraser_values(texts, scorers[key[0]], original[key[0]], items, seed, targets)
        for key, items in attributions.items()
        if items
    }
    for (model, explainer), found in values.items():
        count = len(attributions[(model, explainer)])
        if count < min_reviews:
            results[(model, explainer)] = {m: round(float(np.mean(v)), 6) for m, v in found.items()}
        else:
            reference = REFERENCES.get(model)
            against = None if explainer == reference else values.get((model, reference))
            results[(model, explainer)] = _compared(
                found, count, floor[model], reference, against, resamples, seed
            )
        results[(model, explainer)]["reviews"] = count
    return results


def _compared(
    found: dict[str, np.ndarray],
    count: int,
    floor: dict[str, np.ndarray],
    reference: str | None,
    against: dict[str, np.ndarray] | None,
    resamples: int,
    seed: int,
) -> dict[str, Interval | float | int]:
    """An explainer's measures on its first ``count`` reviews with intervals, minus the random
    ``floor`` and minus its model's ``reference`` explainer (its measures ``against``, None for
    the reference itself) on those reviews, paired; every reference covers every review."""
    paired = found | {f"{m}_random": floor[m][:count] for m in MEASURES}
    versus = {RANDOM: "random"}
    if against is not None:
        paired |= {f"{m}_reference": against[m][:count] for m in MEASURES}
        versus[str(reference)] = "reference"
    means, samples = mean_intervals(paired, resamples, seed)
    return {m: means[m] for m in MEASURES} | {
        f"{m}_vs_{name}": paired_difference(means, samples, m, f"{m}_{label}")
        for m in MEASURES
        for name, label in versus.items()
    }


def agreement(
    students: dict[str, list[Attribution]],
    teacher: list[Attribution],
    top_k: int,
    resamples: int,
    seed: int,
) -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """Per student, its top-k overlap and rank correlation with the teacher's attributions, and
    per kind, the distilled student minus its gold-label twin (paired, same reviews)."""
    measures = {
        f"top{top_k}_overlap": lambda s, t: top_overlap(s, t, top_k),
        "rank_correlation": rank_correlation,
    }
    per_student: dict[str, dict[str, Interval]] = {name: {} for name in students}
    per_kind: dict[str, dict[str, Interval]] = {kind: {} for kind in twins()}
    for measure, function in measures.items():
        values = {
            name: np.array([function(s, t) for s, t in zip(items, teacher, strict=True)])
            for name, items in students.items()
        }
        means, samples = mean_intervals(values, resamples, seed)
        for name in students:
            per_student[name][measure] = means[name]
        for kind, pair in twins().items():
            per_kind[kind][measure] = paired_difference(means, samples, *pair)
    return per_student, per_kind


def deletion_changes(
    texts: Sequence[Text],
    scorers: dict[str, Logits],
    original: dict[str, np.ndarray],
    count: int,
    share: float,
    seed: int,
    targets: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Each model's logit change (reviews x ``count``) when the same random words are removed
    (K classes: the change of class ``targets[review]``'s log-odds)."""
    deleted = [variant for position, text in enumerate(texts)
               for variant in deletions(text, count, share, seed + position)]  # fmt: skip
    per_variant = None if targets is None else np.repeat(targets, count)
    return {
        model: explained_logits(score(deleted), per_variant).reshape(len(texts), count)
        - explained_logits(original[model], targets)[:, None]
        for model, score in scorers.items()
    }


def fidelity(
    changes: dict[str, np.ndarray], teacher: str, resamples: int, seed: int
) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """Per student, its deletion fidelity, and per kind, distilled minus gold-label twin."""
    students = {name: changes[name] for name in STUDENT_NAMES}
    intervals, samples = deletion_fidelity(students, changes[teacher], resamples, seed)
    per_kind = {
        kind: paired_difference(intervals, samples, *pair) for kind, pair in twins().items()
    }
    return intervals, per_kind


def flat_metrics(
    faithful: dict[tuple[str, str], dict[str, Interval | float | int]],
    per_student: dict[str, dict[str, Interval]],
    per_kind: dict[str, dict[str, Interval]],
) -> dict[str, float]:
    """The figures as the flat keys of ``metrics/explain.json`` (see the module's docstring)."""
    metrics: dict[str, float] = {}
    for (model, explainer), results in faithful.items():
        prefix = f"{model}_{explainer}"
        for measure, value in results.items():
            if isinstance(value, Interval):
                metrics |= value.keyed(f"{prefix}_{measure}")
            else:
                metrics[f"{prefix}_{measure}"] = value
    for name, measures in per_student.items():
        for measure, interval in measures.items():
            metrics |= interval.keyed(f"{name}_{measure}")
    for kind, measures in per_kind.items():
        model, reference = twins()[kind]
        for measure, interval in measures.items():
            metrics |= interval.keyed(f"{model}_vs_{reference}_{measure}_diff")
    return dict(sorted(metrics.items()))
