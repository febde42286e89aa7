"""Fitting the students (the distill_students stage): one TF-IDF featuriser on the transfer
set, gold-label baselines on the labelled rows, distilled twins regressing the teacher's
outputs over the whole transfer set, each student's hyperparameters chosen on validation, and
the re-fits over seeds of those whose fit draws random numbers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputRegressor
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from bertdistill.core.logits import predicted_classes
from bertdistill.core.params import StudentFitParams, StudentParams, TfidfParams
from bertdistill.core.registry import KINDS, STUDENTS, Student
from bertdistill.core.texts import Text
from bertdistill.students.models import Students, student_logits
from bertdistill.students.pair_features import student_text
from bertdistill.students.transfer_set import TransferSet, distillation_targets

logger = logging.getLogger(__name__)

# The `distill_students` keys every fit reads, and those each student kind's fits read beyond
# them: dvc.yaml lists exactly these for each student stage (a test checks), so a change to one
# kind's grid re-fits that kind only.
SHARED_KEYS = ("tfidf", "target", "temperature", "gold_alpha", "seeds", "unlabeled_limit", "n_jobs")
KIND_KEYS = {
    "lr": ("lr_C", "ridge_alpha", "max_iter"),
    "svm": ("svm_C", "svr_C", "svr_epsilon", "max_iter"),
    "tree": ("tree_max_depth", "tree_min_samples_leaf"),
}


def fit_featurizer(
    params: TfidfParams, texts: Sequence[str]
) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    """The TF-IDF featuriser fitted on ``texts``, and their features.

    The vocabulary keeps the ``max_features`` n-grams most frequent over ``texts``, ties going to
    the alphabetically first. scikit-learn's own cut ranks with NumPy's default sort, whose order
    among equal counts differs between CPUs (its AVX-512 and AVX2 code paths): on the default
    run's texts 64,908 n-grams tie at the cut and 17,938 of them are kept, so the vocabulary, and
    with it every student, changed with the CPU.
    """
    counter = CountVectorizer(
        ngram_range=(1, params.ngram_max), min_df=params.min_df, max_df=params.max_df
    )
    counts = counter.fit_transform(texts)
    terms = counter.get_feature_names_out()  # in alphabetical order
    if params.max_features is not None and len(terms) > params.max_features:
        totals = np.asarray(counts.sum(axis=0)).ravel()
        terms = terms[np.sort(np.argsort(-totals, kind="stable")[: params.max_features])]
    featurizer = TfidfVectorizer(
        ngram_range=(1, params.ngram_max),
        vocabulary=terms.tolist(),
        sublinear_tf=params.sublinear_tf,
        dtype=np.float64,
    )
    features = featurizer.fit_transform(texts)
    featurizer.vocabulary = None  # vocabulary_ holds it: the saved featuriser stays small
    return featurizer, features


def search_space(kind: str, variant: str, params: StudentFitParams) -> dict[str, tuple]:
    """Candidate hyperparameters of one student. Twins get grids of the same size, so neither
    side of the baseline-versus-distilled comparison is tuned harder than the other."""
    if kind == "lr":
        return {"C": params.lr_C} if variant == "baseline" else {"alpha": params.ridge_alpha}
    if kind == "svm":
        return {"C": params.svm_C if variant == "baseline" else params.svr_C}
    return {"max_depth": params.tree_max_depth, "min_samples_leaf": params.tree_min_samples_leaf}


def candidates(space: dict[str, tuple]) -> list[dict]:
    """Every combination of a search space, in a fixed order (ties go to the first)."""
    return [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]


def build_student(
    kind: str,
    variant: str,
    hyperparameters: dict,
    params: StudentFitParams,
    seed: int,
    outputs: int = 1,
) -> BaseEstimator:
    """The classifier (baseline) or regressor (distilled, fitting ``outputs`` targets) for
    ``kind``."""
    if kind == "lr":
        if variant == "baseline":
            return LogisticRegression(
                **hyperparameters, max_iter=params.max_iter, random_state=seed
            )
        return Ridge(**hyperparameters, random_state=seed)
    if kind == "svm":
        if variant == "baseline":
            return LinearSVC(**hyperparameters, max_iter=params.max_iter, random_state=seed)
        regressor = LinearSVR(
            **hyperparameters,
            epsilon=params.svr_epsilon,
            loss="squared_epsilon_insensitive",
            dual="auto",
            max_iter=params.max_iter,
            random_state=seed,
        )
        return regressor if outputs == 1 else MultiOutputRegressor(regressor)
    if kind == "tree":
        tree = DecisionTreeClassifier if variant == "baseline" else DecisionTreeRegressor
        return tree(**hyperparameters, random_state=seed)
    raise ValueError(f"unknown student kind {kind!r}")


@dataclass
class Selection:
    """The hyperparameters a search kept for one student, and its validation accuracy."""

    hyperparameters: dict
    val_accuracy: float
    tried: int


def draws_random_numbers(model: BaseEstimator) -> bool:
    """Whether fitting ``model`` (fitted) uses its ``random_state``: a tree permutes the features
    at each split (ties fall by seed); liblinear's dual coordinate descent (LinearSVC, LinearSVR
    unless ``dual=False``) shuffles the rows; LogisticRegression uses it with the liblinear, sag
    and saga solvers, Ridge with sag and saga (``solver_``, the one ``auto`` chose). Any other fit
    gives the same bytes for every seed, so re-fitting it with other seeds measures nothing."""
    if isinstance(model, MultiOutputRegressor):
        return any(draws_random_numbers(estimator) for estimator in model.estimators_)
    if isinstance(model, (DecisionTreeClassifier, DecisionTreeRegressor)):
        return True
    if isinstance(model, (LinearSVC, LinearSVR)):
        return model.dual is not False
    if isinstance(model, LogisticRegression):
        return model.solver in ("liblinear", "sag", "saga")
    if isinstance(model, Ridge):
        return getattr(model, "solver_", model.solver) in ("sag", "saga")
    return True  # unknown: assume it does, and measure its spread


def fit_candidate(
    kind: str,
    variant: str,
    hyperparameters: dict,
    params: StudentFitParams,
    seed: int,
    outputs: int,
    data: FitData,
) -> tuple[BaseEstimator, float]:
    """One student fitted with ``hyperparameters`` and ``seed`` on ``data`` (features, targets,
    validation features, validation labels), and its validation accuracy."""
    features, target, val_features, val_labels = data
    model = build_student(kind, variant, hyperparameters, params, seed, outputs)
    # One BLAS thread: OpenBLAS sums a long vector in another order with another thread count,
    # and joblib's workers get fewer threads than the main process, so a fit's last bits would
    # follow n_jobs (and the machine's core count).
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(features, target)
        logits = student_logits(model, val_features, params.target, params.temperature)
    return model, float(np.mean(predicted_classes(logits) == val_labels))


def fit_students(
    transfer: TransferSet,
    val_texts: Sequence[Text],
    val_labels: np.ndarray,
    params: StudentParams,
    seed: int,
    kinds: Sequence[str] = KINDS,
) -> tuple[Students, dict[str, Selection]]:
    """Fit the students of ``kinds``: baselines on the gold labels of the labelled rows only and
    distilled regressors on the teacher's outputs over the whole transfer set; all share one
    TF-IDF featuriser fitted on the transfer set's texts (the same bytes for any ``kinds``).

    Each student's hyperparameters are chosen by accuracy on the validation split (gold labels),
    never on the test split. With ``params.seeds`` > 1 the chosen configuration of a student
    whose fit draws random numbers (:func:`draws_random_numbers`: tree tie-breaking, the SVMs'
    coordinate order) is re-fitted with seeds ``seed + 1``, ``seed + 2``, ... (the replicates):
    their spread is what that randomness is worth; a deterministic student has none to measure.
    Candidates, then replicates, are fitted ``params.n_jobs`` at a time (joblib processes), each
    on one BLAS thread, so every fit is the same whatever the count and the machine's cores.
    """
    featurizer, transfer_features = fit_featurizer(
        params.tfidf, [student_text(text) for text in transfer.texts]
    )
    val_features = featurizer.transform([student_text(text) for text in val_texts])
    outputs = transfer.outputs
    logger.info(
        "transfer set: %s texts, %d TF-IDF features",
        ", ".join(f"{count} {name}" for name, count in transfer.counts().items()),
        transfer_features.shape[1],
    )
    data = fit_data(transfer, transfer_features, val_features, val_labels, params)
    parallel = Parallel(n_jobs=params.n_jobs)
    students = [student for student in STUDENTS if student.kind in kinds]
    models, selections = search(parallel, students, data, params, seed, outputs)
    replicates = refit(parallel, students, data, models, selections, params, seed, outputs)
    fitted = Students(featurizer, models, params.target, params.temperature, replicates)
    return fitted, selections


FitData = tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray]


def fit_data(
    transfer: TransferSet,
    transfer_features: sp.csr_matrix,
    val_features: sp.csr_matrix,
    val_labels: np.ndarray,
    params: StudentFitParams,
) -> dict[str, FitData]:
    """What each variant fits (features, targets) and is chosen on (validation features and
    labels): the baselines the labelled rows' gold labels, the distilled twins the teacher's
    targets (:func:`distillation_targets`) on every row."""
    labelled = np.flatnonzero(transfer.source == "labelled")
    targets = distillation_targets(
        transfer.teacher_logits, params.target, params.temperature, transfer.gold, params.gold_alpha
    )
    return {
        "baseline": (
            transfer_features[labelled],
            transfer.gold[labelled],
            val_features,
            val_labels,
        ),
        "distilled": (transfer_features, targets, val_features, val_labels),
    }


def search(
    parallel: Parallel,
    students: Sequence[Student],
    data: dict[str, FitData],
    params: StudentFitParams,
    seed: int,
    outputs: int,
) -> tuple[dict[str, BaseEstimator], dict[str, Selection]]:
    """The candidates of each of ``students`` fitted (``data`` per variant) and the best on
    validation kept (ties go to the first candidate)."""
    grids = {s.name: candidates(search_space(s.kind, s.variant, params)) for s in students}
    jobs = [(student, hyper) for student in students for hyper in grids[student.name]]
    fitted = parallel(
        delayed(fit_candidate)(s.kind, s.variant, hyper, params, seed, outputs, data[s.variant])
        for s, hyper in jobs
    )
    models, selections = {}, {}
    for student in students:
        best, best_accuracy = None, -1.0
        for (owner, hyperparameters), (model, accuracy) in zip(jobs, fitted, strict=True):
            if owner is not student:
                continue
            logger.info("%s %s: validation accuracy %.4f", student.name, hyperparameters, accuracy)
            if accuracy > best_accuracy:
                best, best_accuracy = (model, hyperparameters), accuracy
        models[student.name] = best[0]
        selections[student.name] = Selection(best[1], best_accuracy, len(grids[student.name]))
    return models, selections


def refit(
    parallel: Parallel,
    students: Sequence[Student],
    data: dict[str, FitData],
    models: dict[str, BaseEstimator],
    selections: dict[str, Selection],
    params: StudentParams,
    seed: int,
    outputs: int,
) -> dict[int, dict[str, BaseEstimator]]:
    """The chosen students whose fit draws random numbers, re-fitted with seeds ``seed + 1``,
    ..., ``seed + params.seeds - 1`` (seed -> name -> model)."""
    seeded = [s for s in students if draws_random_numbers(models[s.name])]
    others = range(seed + 1, seed + params.seeds)
    jobs = [(student, other) for other in others for student in seeded]
    fitted = parallel(
        delayed(fit_candidate)(
            s.kind, s.variant, selections[s.name].hyperparameters, params, other, outputs,
            data[s.variant],
        )
        for s, other in jobs
    )  # fmt: skip
    replicates: dict[int, dict[str, BaseEstimator]] = {other: {} for other in others}
    for (student, other), (model, _) in zip(jobs, fitted, strict=True):
        replicates[other][student.name] = model
    return replicates
