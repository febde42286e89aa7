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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.multioutput import MultiOutputRegressor
from sklearn.svm import LinearSVC, l1_min_c
from threadpoolctl import threadpool_limits

from bertdistill.core.params import FrontierParams, StudentFitParams
from bertdistill.core.registry import Student
from bertdistill.students.fitting import FitData, candidates, fit_candidate, search_space

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


def linear_weights(model: BaseEstimator) -> tuple[np.ndarray, np.ndarray]:
    """A linear student's weights as (outputs, columns) and its intercepts (outputs,)."""
    if isinstance(model, MultiOutputRegressor):
        parts = [linear_weights(estimator) for estimator in model.estimators_]
        return np.vstack([part[0] for part in parts]), np.concatenate([part[1] for part in parts])
    weights = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    return weights, np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))


def model_size(model: BaseEstimator) -> int:
    """Non-zero n-gram weights (any output's) of a linear student; leaves of a tree."""
    if hasattr(model, "get_n_leaves"):
        return int(model.get_n_leaves())
    return int(np.count_nonzero(np.any(linear_weights(model)[0] != 0, axis=0)))


def l1_model(
    student: Student, value: float, params: StudentFitParams, seed: int, outputs: int = 1
) -> BaseEstimator:
    """The L1-penalised fit that picks a linear student's n-grams, at ``value`` (C for the
    gold-label classifiers, alpha for the lasso of the distilled regressors). Beyond two classes
    (``outputs`` > 1) the logistic regression is multinomial, which liblinear cannot fit."""
    if student.variant == "distilled":
        return Lasso(alpha=value, max_iter=params.max_iter, warm_start=True)
    if student.kind == "lr":
        solver = "liblinear" if outputs == 1 else "saga"
        return LogisticRegression(
            C=value, l1_ratio=1.0, solver=solver, max_iter=params.max_iter, random_state=seed
        )
    return LinearSVC(
        C=value,
        penalty="l1",
        loss="squared_hinge",
        dual=False,
        max_iter=params.max_iter,
        random_state=seed,
    )


def path_start(student: Student, features: sp.csr_matrix, targets: np.ndarray) -> float:
    """The penalty at which the first n-gram enters the L1 path: the smallest C of the
    classifiers (scikit-learn's ``l1_min_c``; for the multinomial LR, whose intercepts are not
    penalised, 1 / max |X'(Y - class shares)|), the largest alpha of the lasso
    (max |X'(y - mean y)| / n over outputs)."""
    if student.variant == "distilled":
        centred = np.asarray(targets, dtype=np.float64)
        centred = (centred - centred.mean(axis=0)).reshape(len(centred), -1)
        return float(np.max(np.abs(features.T @ centred)) / features.shape[0])
    classes = np.unique(targets)
    if student.kind == "lr" and len(classes) > 2:
        # multinomial, its intercepts unpenalised: the gradient at zero weights is X'(Y - priors)
        onehot = (np.asarray(targets)[:, None] == classes).astype(np.float64)
        return float(1 / np.max(np.abs(features.T @ (onehot - onehot.mean(axis=0)))))
    loss = "log" if student.kind == "lr" else "squared_hinge"
    return float(l1_min_c(features, targets, loss=loss))


@dataclass(frozen=True)
class L1Path:
    """What a student's L1 path found: the support (sorted columns) at each point, the columns
    in the order they entered it (those entering together: the larger weight first), and how
    many of its fits stopped unconverged."""

    supports: list[np.ndarray]
    entry: np.ndarray
    unconverged: int = 0  # fits that stopped at max_iter before converging

    def candidates(self, budget: int, keep: int) -> list[np.ndarray]:
        """A budget's candidate supports, smallest first: the ``keep`` largest distinct
        supports within it, and the first ``budget`` columns to enter the path (a support of
        exactly the budget's size, where the path steps past it)."""
        within = {tuple(s): s for s in self.supports if 0 < len(s) <= budget}
        chosen = sorted(within.values(), key=len)[-keep:]
        first = np.sort(self.entry[:budget])
        if len(first) and tuple(first) not in {tuple(s) for s in chosen}:
            chosen.append(first)
        return sorted(chosen, key=len)

    def origin(self, support: np.ndarray) -> str:
        """How a candidate support was found: a point of the path, or its first n-grams in."""
        return (
            "path point"
            if any(np.array_equal(support, s) for s in self.supports)
            else ("first entered")
        )


def l1_path(
    student: Student,
    data: FitData,
    budgets: Sequence[int],
    config: FrontierParams,
    params: StudentFitParams,
    seed: int,
    outputs: int = 1,
) -> L1Path:
    """The student's L1 path, from the first n-gram in to the first support beyond the largest
    budget or ``config.path_points`` fits; each step moves the penalty by
    10 ** (1 / ``config.path_steps_per_decade``)."""
    features, targets = data[0], data[1]
    start = path_start(student, features, targets)
    if student.variant == "distilled":
        features = features.tocsc()  # the lasso's coordinate descent reads columns
    step = 10 ** (1 / config.path_steps_per_decade)
    model, supports, entry, unconverged = None, [], [], 0
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # counted below, logged once
        for point in range(1, config.path_points + 1):
            value = start / step**point if student.variant == "distilled" else start * step**point
            if model is None or not isinstance(model, Lasso):
                model = l1_model(student, value, params, seed, outputs)
            else:
                model.set_params(alpha=value)  # warm start from the previous point
            model.fit(features, targets)
            unconverged += int(np.max(model.n_iter_) >= params.max_iter)
            strength = np.abs(linear_weights(model)[0]).max(axis=0)
            support = np.flatnonzero(strength)
            seen = set(entry)
            new = [column for column in support if column not in seen]
            entry += sorted(new, key=lambda column: (-strength[column], column))
            supports.append(support)
            if len(support) > max(budgets):
                break
    if len(supports[-1]) <= max(budgets):
        logger.warning(
            "%s: the L1 path's %d fits end at %d n-grams, within the largest budget (%d): "
            "raise size_frontier.path_points or path_steps_per_decade",
            student.name,
            len(supports),
            len(supports[-1]),
            max(budgets),
        )
    return L1Path(supports, np.array(entry, dtype=np.int64), unconverged)


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
    best: dict[int, Budgeted] = {}
    for (budget, support, hyperparameters), (model, accuracy) in zip(jobs, fitted, strict=True):
        if budget not in best or accuracy > best[budget].val_accuracy:
            chosen = {"n-grams": path.origin(support)} | hyperparameters
            best[budget] = Budgeted(
                student, budget, model, support, model_size(model), accuracy, chosen
            )
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
    best: dict[tuple[str, int], Budgeted] = {}
    for (student, budget, hyper), (model, accuracy) in zip(jobs, fitted, strict=True):
        key = (student.name, budget)
        if key not in best or accuracy > best[key].val_accuracy:
            best[key] = Budgeted(
                student, budget, model, columns, model_size(model), accuracy, hyper
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
