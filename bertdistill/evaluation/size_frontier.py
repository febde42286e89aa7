"""The readable-size frontier (stage ``size_frontier``): every student's test accuracy at each
size budget with its 95% interval, each distilled student against its gold-label twin and
against the teacher at the same budget (paired intervals, McNemar's p), the curve's rows for
DVC's plot, and the small models as a person reads them: a linear student's n-grams and
weights, a tree's leaves as rules."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bertdistill.core.registry import KIND_TITLES, KINDS, TEACHER, VARIANTS
from bertdistill.core.templates import template_environment
from bertdistill.evaluation.statistics import (
    Interval,
    hits,
    mcnemar_exact,
    mean_intervals,
    paired_difference,
)
from bertdistill.students.budgets import Budgeted, budget_label
from bertdistill.students.l1_path import linear_weights
from bertdistill.students.models import student_logits

SIZE_UNITS = {"lr": "n-gram weights", "svm": "n-gram weights", "tree": "leaves"}


@dataclass(frozen=True)
class Point:
    """One student at one budget on the test set: its accuracy, and its distilled twin's paired
    comparisons (none for a gold-label student)."""

    fitted: Budgeted
    accuracy: Interval
    gain: Interval | None = None  # distilled minus gold-label at the same budget
    gain_p: float | None = None
    vs_teacher: Interval | None = None  # distilled minus the teacher
    vs_teacher_p: float | None = None


def score(
    points: Sequence[Budgeted],
    features: sp.csr_matrix,
    labels: np.ndarray,
    teacher_logits: np.ndarray,
    target: str,
    temperature: float,
    resamples: int,
    seed: int,
) -> tuple[Interval, list[Point]]:
    """The teacher's test accuracy and every point's, with the distilled points' paired
    comparisons; every model is resampled on the same bootstrap draws of the test texts."""
    correct = {TEACHER: hits(labels, teacher_logits)}
    for point in points:
        logits = student_logits(point.model, features[:, point.columns], target, temperature)
        correct[point.label] = hits(labels, logits)
    accuracy, samples = mean_intervals(correct, resamples, seed)
    scored = []
    for point in points:
        if point.student.variant == "baseline":
            scored.append(Point(point, accuracy[point.label]))
            continue
        twin = f"{point.student.kind}_baseline_{budget_label(point.budget)}"
        comparisons = {}
        for name, reference in (("gain", twin), ("vs_teacher", TEACHER)):
            if reference in correct:
                comparisons[name] = paired_difference(accuracy, samples, point.label, reference)
                comparisons[f"{name}_p"] = mcnemar_exact(correct[point.label], correct[reference])
        scored.append(Point(point, accuracy[point.label], **comparisons))
    return accuracy[TEACHER], scored


def frontier_metrics(teacher: Interval, points: Sequence[Point], test_size: int) -> dict:
    """Flat metrics: ``<student>_<budget>_{accuracy,size,val_accuracy}`` (with the accuracy's
    interval ends), and for each distilled point ``<kind>_<budget>_gain`` and
    ``<student>_<budget>_vs_teacher`` with their intervals and McNemar's p."""
    metrics = teacher.keyed("teacher_accuracy") | {"test_size": test_size}
    for point in points:
        label, fitted = point.fitted.label, point.fitted
        metrics |= point.accuracy.keyed(f"{label}_accuracy")
        metrics[f"{label}_size"] = fitted.size
        metrics[f"{label}_val_accuracy"] = round(fitted.val_accuracy, 6)
        if point.gain is not None:
            gain = f"{fitted.student.kind}_{budget_label(fitted.budget)}_gain"
            metrics |= point.gain.keyed(gain) | {f"{gain}_mcnemar_p": point.gain_p}
        if point.vs_teacher is not None:
            versus = f"{label}_vs_teacher"
            metrics |= point.vs_teacher.keyed(versus)
            metrics[f"{versus}_mcnemar_p"] = point.vs_teacher_p
    return metrics


def plot_rows(points: Sequence[Point], kinds: Sequence[str]) -> list[dict]:
    """Long-format rows for DVC's plot of accuracy against size: one line per student of
    ``kinds``, each point with its interval's ends."""
    return [
        {
            "student": point.fitted.student.short_title,
            "budget": budget_label(point.fitted.budget),
            "size": point.fitted.size,
            "accuracy": point.accuracy.estimate,
            "ci_low": point.accuracy.low,
            "ci_high": point.accuracy.high,
        }
        for point in points
        if point.fitted.student.kind in kinds
    ]


def readable_weights(
    fitted: Budgeted, terms: Sequence[str], classes: Sequence[str]
) -> dict[str, object]:
    """A linear student as a person reads it: its intercept and each n-gram with its weight(s),
    strongest first (``rows``). Two classes: one weight per n-gram, positive towards
    ``classes[1]``, and ``sides`` pairs the n-grams towards ``classes[1]`` with those towards
    ``classes[0]``, row by row; beyond, a weight per class."""
    weights, intercepts = linear_weights(fitted.model)
    rows = []
    for column, position in enumerate(fitted.columns):
        values = weights[:, column]
        if np.any(values != 0):
            rows.append((terms[position], [float(value) for value in values]))
    rows.sort(key=lambda row: (-max(abs(value) for value in row[1]), row[0]))
    shown = {"intercepts": [float(i) for i in intercepts], "rows": rows}
    if weights.shape[0] > 1:
        return shown | {"heads": list(classes), "sides": []}
    towards = [
        [(term, values[0]) for term, values in rows if sign * values[0] > 0] for sign in (1, -1)
    ]
    sides = list(itertools.zip_longest(*towards))  # a row: the next n-gram towards each class
    return shown | {"heads": [classes[1], classes[0]], "sides": sides}


@dataclass(frozen=True)
class Rule:
    """One leaf of a tree: the conditions on the way to it, what it predicts and how many
    transfer-set texts reached it."""

    conditions: list[str]
    prediction: str
    value: str
    texts: int


def tree_rules(
    fitted: Budgeted, terms: Sequence[str], classes: Sequence[str], target: str = "logits"
) -> list[Rule]:
    """A tree's leaves as rules, largest first: each condition reads ``great > 0.041`` (the
    n-gram's TF-IDF weight in the text), each leaf's prediction is the class it gives and the
    value behind it (a regressor's mean target: the teacher's logit(s), or its probabilities
    with ``target`` "probabilities"; a classifier's class shares)."""
    tree = fitted.model.tree_
    regressor = not hasattr(fitted.model, "classes_")
    rules = []

    def walk(node: int, conditions: list[str]) -> None:
        left, right = tree.children_left[node], tree.children_right[node]
        if left == right:  # a leaf
            value = tree.value[node][:, 0] if regressor else tree.value[node][0]
            if regressor:
                boundary = 0.0 if target == "logits" else 0.5
                predicted = int(value[0] > boundary) if len(value) == 1 else int(np.argmax(value))
                shown = ", ".join(f"{v:+.2f}" for v in value)
            else:  # the tree's classes are the label ids it saw, in order
                predicted = int(fitted.model.classes_[int(np.argmax(value))])
                shown = ", ".join(f"{v:.2f}" for v in value / value.sum())
            rules.append(
                Rule(list(conditions), classes[predicted], shown, int(tree.n_node_samples[node]))
            )
            return
        term, threshold = terms[fitted.columns[tree.feature[node]]], tree.threshold[node]
        walk(left, [*conditions, f"{term} ≤ {threshold:.3f}"])
        walk(right, [*conditions, f"{term} > {threshold:.3f}"])

    walk(0, [])
    return sorted(rules, key=lambda rule: -rule.texts)


@dataclass(frozen=True)
class FrontierRun:
    """What the report says about the run."""

    dataset: str
    test_size: int
    resamples: int
    classes: tuple[str, ...]
    teacher_title: str
    target: str  # distill_students.target: logits | probabilities
    temperature: float = 1.0
    gold_alpha: float = 0.0

    @property
    def target_text(self) -> str:
        """What the distilled students regress, in words: ``the teacher's logit``."""
        text = "the teacher's " + ("logit" if self.target == "logits" else "probability")
        if self.temperature != 1:
            text += f" at temperature {self.temperature:g}"
        if self.gold_alpha:
            text += f", the gold label blended in with weight {self.gold_alpha:g}"
        return text


def report_markdown(
    teacher: Interval,
    points: Sequence[Point],
    shown_linear: Sequence[Budgeted],
    shown_tree: Budgeted | None,
    terms: Sequence[str],
    run: FrontierRun,
) -> str:
    """The frontier's tables per kind, then the shown models whole (the template
    ``templates/size_frontier.md.j2``)."""
    tables = []
    for kind in KINDS:
        rows: dict[str, dict[str, Point]] = {}
        for point in points:
            if point.fitted.student.kind == kind:
                budget = budget_label(point.fitted.budget)
                row = rows.setdefault(budget, dict.fromkeys(VARIANTS))
                row[point.fitted.student.variant] = point
        if rows:
            tables.append((KIND_TITLES[kind], SIZE_UNITS[kind], list(rows.items())))
    templates = template_environment("bertdistill.evaluation", html=False)
    return templates.get_template("size_frontier.md.j2").render(
        run=run,
        teacher=teacher,
        tables=tables,
        linear=[(fitted, readable_weights(fitted, terms, run.classes)) for fitted in shown_linear],
        tree=shown_tree,
        rules=tree_rules(shown_tree, terms, run.classes, run.target) if shown_tree else [],
    )
