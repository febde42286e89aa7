"""The L1 path that picks a linear student's n-grams within a budget (stage ``size_frontier``;
:mod:`bertdistill.students.budgets` re-fits them): the L1-penalised form of each student's
loss, where its path starts, and the supports along it."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.multioutput import MultiOutputRegressor
from sklearn.svm import LinearSVC, l1_min_c
from threadpoolctl import threadpool_limits

from bertdistill.core.params import FrontierParams, StudentFitParams
from bertdistill.core.registry import Student
from bertdistill.students.fitting import FitData

logger = logging.getLogger(__name__)


def linear_weights(model: BaseEstimator) -> tuple[np.ndarray, np.ndarray]:
    """A linear student's weights as (outputs, columns) and its intercepts (outputs,)."""
    if isinstance(model, MultiOutputRegressor):
        parts = [linear_weights(estimator) for estimator in model.estimators_]
        return np.vstack([part[0] for part in parts]), np.concatenate([part[1] for part in parts])
    weights = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    return weights, np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))


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
