"""The explain stage's figures: the faithfulness of every model x explainer, and how alike each
student explains and behaves to the teacher, each with a 95% interval over reviews.

- Faithfulness: ERASER's per-review measures (:mod:`bertdistill.explain.erasure`) as means with
  intervals, minus a random floor and minus the model's reference explainer (paired).
- Agreement: per review, top-k overlap and Spearman rank correlation of a student's word
  attributions with the teacher's.
- Deletion fidelity: when the same random words are removed from a review, does a student's
  change in logit track the teacher's? Spearman correlation over reviews and deletions.

A distilled student and its gold-label twin are compared on the same resamples (paired).

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

import numpy as np
from scipy.stats import spearmanr

from bertdistill.core.registry import STUDENT_NAMES, TEACHER
from bertdistill.evaluation.statistics import (
    INTERVAL_SUFFIXES,
    Interval,
    comparison_key,
    mean_intervals,
    paired_difference,
    twins,
)
from bertdistill.explain.attributions import Attribution
from bertdistill.explain.erasure import MEASURES
from bertdistill.explain.teacher_outputs import IG_METHOD, RANDOM, TEACHER_METHOD

STUDENT_METHOD = "exact"
# What each model's other explainers are compared with, paired on the reviews both cover.
REFERENCES = {TEACHER: TEACHER_METHOD} | dict.fromkeys(STUDENT_NAMES, STUDENT_METHOD)
GAP_KEY = f"{TEACHER}_{IG_METHOD}_mean_abs_gap"  # Integrated Gradients' quadrature error


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


Values = dict[str, np.ndarray]  # per ERASER measure, one value per review


def faithfulness(
    values: dict[tuple[str, str], Values],
    floor: dict[str, Values],
    resamples: int,
    min_reviews: int,
    seed: int,
) -> dict[tuple[str, str], dict[str, Interval | float | int]]:
    """Comprehensiveness and sufficiency of each (model, explainer)'s attributions, from their
    per-review ``values`` (covering the first reviews), and of each model's random ranking
    (``floor``, every review); each explainer also minus the random floor and minus its model's
    reference explainer (:data:`REFERENCES`) on the same reviews (paired). An explainer on
    fewer than ``min_reviews`` reviews gets its means only: a bootstrap over a handful of
    reviews has a handful of distinct means, no 95% interval."""
    results: dict[tuple[str, str], dict[str, Interval | float | int]] = {}
    for model, found in floor.items():
        means, _ = mean_intervals(found, resamples, seed)
        results[(model, RANDOM)] = means | {"reviews": len(found[MEASURES[0]])}
    for (model, explainer), found in values.items():
        count = len(found[MEASURES[0]])
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


def headline(metrics: dict[str, float], top_k: int) -> dict[str, dict[str, dict[str, float]]]:
    """The explanation figures ``dvc metrics show`` prints, in the shape of the accuracy rows
    (``metrics/accuracy/``): ``overlap`` (``metrics/overlap/``, the share of the teacher's top
    ``top_k`` words a student's explanation shares) and ``fidelity`` (``metrics/fidelity/``, how
    closely a student's logit follows the teacher's under deletions), each a file per student
    kind with the gold-label and distilled values and the distilled minus the gold-label one
    (``gain``) with its paired 95% interval. ``metrics`` are explain's full metrics
    (``metrics/explain.json``)."""
    measures = {"overlap": f"top{top_k}_overlap", "fidelity": "deletion_fidelity"}
    return {
        name: {
            kind: {
                "baseline": metrics[f"{reference}_{measure}"],
                "distilled": metrics[f"{model}_{measure}"],
            }
            | {
                f"gain{suffix}": metrics[
                    f"{comparison_key(model, reference)}_{measure}_diff{suffix}"
                ]
                for suffix in INTERVAL_SUFFIXES
            }
            for kind, (model, reference) in twins().items()
        }
        for name, measure in measures.items()
    }


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
