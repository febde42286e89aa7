"""Students at a size a person can read (stage ``size_frontier``): each linear student with a
budget of non-zero n-gram weights, each tree with a budget of leaves, every budget's
regularisation chosen on the validation split.

A linear student at a budget is a relaxed lasso (Meinshausen 2007): a path of L1-penalised fits
of the student's own loss picks the n-grams (an L1-penalised logistic regression or squared-hinge
SVM for the gold-label baselines; the lasso, the L1 form of both distilled regressors' squared
loss on the teacher's logits, for the distilled twins), then the student's own estimator, with
the L2 grid of ``distill_students``, is re-fitted on those n-grams alone. The L1 fit alone would
shrink the few weights it keeps towards zero, and most at the smallest budgets; the re-fit
removes that shrinkage. L1 rather than elastic-net: elastic-net keeps groups of correlated
n-grams together ("great" beside "great movie"), which spends a small budget on near-repeats.
A budget's candidates are the path's largest supports within it (``path_candidates`` of them)
and the budget's count of n-grams in the order they entered the path, each re-fitted with
every value of the L2 grid; the best on validation is kept, ties going to the smaller model.

A tree at a budget is grown best-first to at most that many leaves (``max_leaf_nodes``), with
``min_samples_leaf`` chosen from the grid of ``distill_students`` on validation.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator

from bertdistill.core.params import FrontierParams, StudentFitParams
from bertdistill.core.registry import Student
from bertdistill.students.fitting import FitData, candidates, fit_candidate, search_space
from bertdistill.students.l1_path import L1Path, l1_path, linear_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budgeted:
    """One student fitted within a budget (``None``: no budget, the full student): the model,
    the featuriser columns it reads, its size (non-zero weights or leaves), its validation
    accuracy and the hyperparameters chosen."""

    student: Student
    budget: int | None
    model: BaseEstimator
    columns: np.ndarray
    size: int
    val_accuracy: float
    hyperparameters: dict

    @property
    def label(self) -> str:
        """``lr_distilled_100``, ``tree_baseline_all``: the point's name in metrics."""
        return f"{self.student.name}_{budget_label(self.budget)}"


def budget_label(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def model_size(model: BaseEstimator) -> int:
    """Non-zero n-gram weights (any output's) of a linear student; leaves of a tree."""
    if hasattr(model, "get_n_leaves"):
        return int(model.get_n_leaves())
    return int(np.count_nonzero(np.any(linear_weights(model)[0] != 0, axis=0)))


def keep_best(points: Iterable[tuple[Hashable, Budgeted]]) -> dict[Hashable, Budgeted]:
    """Per key, the point with the best validation accuracy; ties go to the first."""
    best: dict[Hashable, Budgeted] = {}
    for key, point in points:
        if key not in best or point.val_accuracy > best[key].val_accuracy:
            best[key] = point
    return best


def linear_at_budgets(
    parallel: Parallel,
    student: Student,
    data: FitData,
    path: L1Path,
    config: FrontierParams,
    params: StudentFitParams,
    seed: int,
    outputs: int,
) -> list[Budgeted]:
    """The linear ``student`` re-fitted on each budget's candidate supports on its L1 ``path``
    with every value of its L2 grid, and the best on validation kept per budget."""
    grid = candidates(search_space(student.kind, student.variant, params))
    features, targets, val_features, val_labels = data
    jobs = [
        (budget, support, hyperparameters)
        for budget in config.weight_budgets
        for support in path.candidates(budget, config.path_candidates)
        for hyperparameters in grid
    ]
    fitted = parallel(
        delayed(fit_candidate)(
            student.kind, student.variant, hyperparameters, params, seed, outputs,
            (features[:, support], targets, val_features[:, support], val_labels),
        )
        for _, support, hyperparameters in jobs
    )  # fmt: skip
    points = []
    for (budget, support, hyperparameters), (model, accuracy) in zip(jobs, fitted, strict=True):
        chosen = {"n-grams": path.origin(support)} | hyperparameters
        size = model_size(model)
        points.append((budget, Budgeted(student, budget, model, support, size, accuracy, chosen)))
    best = keep_best(points)
    missing = [budget for budget in config.weight_budgets if budget not in best]
    if missing:
        logger.warning("%s: no L1 support within the budgets %s", student.name, missing)
    return [best[budget] for budget in config.weight_budgets if budget in best]


def trees_at_budgets(
    parallel: Parallel,
    students: Sequence[Student],
    data: dict[str, FitData],
    config: FrontierParams,
    params: StudentFitParams,
    seed: int,
    outputs: int,
) -> list[Budgeted]:
    """Each tree student grown to at most each budget's leaves, ``min_samples_leaf`` chosen on
    validation."""
    jobs = [
        (student, budget, {"max_leaf_nodes": budget, "min_samples_leaf": leaf})
        for student in students
        for budget in config.leaf_budgets
        for leaf in params.tree_min_samples_leaf
    ]
    fitted = parallel(
        delayed(fit_candidate)(
            s.kind, s.variant, hyper, params, seed, outputs, data[s.variant]
        )
        for s, _, hyper in jobs
    )  # fmt: skip
    columns = np.arange(data["baseline"][0].shape[1])
    best = keep_best(
        ((s.name, budget), Budgeted(s, budget, model, columns, model_size(model), accuracy, hyper))
        for (s, budget, hyper), (model, accuracy) in zip(jobs, fitted, strict=True)
    )
    return list(best.values())


def fit_at_budgets(
    students: Sequence[Student],
    data: dict[str, FitData],
    config: FrontierParams,
    params: StudentFitParams,
    seed: int,
    outputs: int,
) -> list[Budgeted]:
    """Every student of ``students`` at every budget of its kind (``data`` per variant, as
    :func:`bertdistill.students.fitting.fit_students` builds it). The distilled LR and SVM
    share one lasso path: both fit a squared loss on the same targets."""
    parallel = Parallel(n_jobs=params.n_jobs)
    linear = [student for student in students if student.linear]
    paths: dict[str, Student] = {}
    for student in linear:  # one path per loss: the distilled twins share the lasso's
        paths.setdefault("lasso" if student.variant == "distilled" else student.name, student)
    found = dict(
        zip(
            paths,
            parallel(
                delayed(l1_path)(
                    s, data[s.variant], config.weight_budgets, config, params, seed, outputs
                )
                for s in paths.values()
            ),
            strict=True,
        )
    )
    for name, path in found.items():  # logged here: the paths ran in worker processes
        logger.info(
            "%s: L1 path of %d fits (%d stopped at max_iter unconverged), supports %s",
            name,
            len(path.supports),
            path.unconverged,
            [len(support) for support in path.supports],
        )
    fitted = []
    for student in linear:
        path = found["lasso" if student.variant == "distilled" else student.name]
        fitted += linear_at_budgets(
            parallel, student, data[student.variant], path, config, params, seed, outputs
        )
    trees = [student for student in students if student.kind == "tree"]
    if trees:
        fitted += trees_at_budgets(parallel, trees, data, config, params, seed, outputs)
    for point in fitted:
        logger.info(
            "%s: %d %s, validation accuracy %.4f, %s",
            point.label,
            point.size,
            "leaves" if point.student.kind == "tree" else "n-gram weights",
            point.val_accuracy,
            point.hyperparameters,
        )
    return fitted
