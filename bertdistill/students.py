"""Interpretable students: a shared TF-IDF featuriser, gold-label baselines and distilled twins
(fitting and reading them; :mod:`bertdistill.student_files` saves and loads them). With K > 2
classes the baselines are multinomial (LR), one-vs-rest (SVM) and multi-class (tree)
classifiers, and the distilled twins regress all K teacher logits (multi-output Ridge, one
LinearSVR per class, a multi-output tree); every student predicts the arg-max."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputRegressor
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bertdistill.config import StudentParams, TfidfParams
from bertdistill.errors import UserError
from bertdistill.pairs import student_text
from bertdistill.registry import STUDENTS
from bertdistill.scoring import class_proba, predicted_classes, sigmoid, softmax
from bertdistill.texts import Text

logger = logging.getLogger(__name__)

_EPS = 1e-6


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


def search_space(kind: str, variant: str, params: StudentParams) -> dict[str, tuple]:
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
    params: StudentParams,
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


def distillation_targets(
    teacher_logits: np.ndarray,
    target: str,
    temperature: float,
    gold: np.ndarray | None = None,
    gold_alpha: float = 0.0,
) -> np.ndarray:
    """What a distilled regressor learns: the teacher's logits / T, or its probabilities (one
    logit per text: the sigmoid; K logits: the softmax).

    With ``gold_alpha`` > 0, rows with a gold label (``gold`` is 0/1 there, -1 elsewhere) blend
    it in: ``(1 - alpha) * teacher + alpha * gold``, where gold is 0/1 on the probability scale
    and +-m on the logit scale, m being the teacher's mean absolute scaled logit on those rows.
    """
    scaled = np.asarray(teacher_logits, dtype=np.float64) / temperature
    several = scaled.ndim == 2
    targets = scaled if target == "logits" else (softmax if several else sigmoid)(scaled)
    if gold is None or gold_alpha == 0:
        return targets
    if several:
        raise UserError(
            "params key 'distill_students.gold_alpha' blends in a two-class gold label; with "
            "K classes set it to 0"
        )
    has_gold = np.asarray(gold) >= 0
    if not has_gold.any():
        return targets
    if target == "logits":
        gold_target = np.where(gold[has_gold] == 1, 1.0, -1.0) * np.abs(scaled[has_gold]).mean()
    else:
        gold_target = gold[has_gold].astype(np.float64)
    blended = targets.copy()
    blended[has_gold] = (1 - gold_alpha) * targets[has_gold] + gold_alpha * gold_target
    return blended


def student_logits(model: BaseEstimator, features: sp.spmatrix, target: str, temperature: float):
    """Logits for any student, as the teacher gives them (one per text for two classes, K per
    text beyond), so every model is read and scored alike.

    Classifiers give their decision function (a log-odds for LR, a margin for the SVM) or the
    log-odds (K classes: log-probabilities) of the tree's leaf frequency; regressors are mapped
    back from their target scale.
    """
    if isinstance(model, DecisionTreeClassifier):
        probabilities = model.predict_proba(features)
        if probabilities.shape[1] > 2:
            return np.log(np.clip(probabilities, _EPS, 1.0))
        return _logit(probabilities[:, 1])
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(features), dtype=np.float64)
    output = np.asarray(model.predict(features), dtype=np.float64)
    if target == "logits":
        return output * temperature
    if output.ndim == 2:
        return np.log(np.clip(output, _EPS, 1.0)) * temperature
    return _logit(output) * temperature


def _logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, _EPS, 1 - _EPS)
    return np.log(clipped / (1 - clipped))


@dataclass
class Students:
    """The fitted featuriser, the six students and how to read their outputs; ``replicates``
    holds the same students re-fitted with other seeds (seed -> name -> model), for their
    spread."""

    featurizer: TfidfVectorizer
    models: dict[str, BaseEstimator]
    target: str
    temperature: float
    replicates: dict[int, dict[str, BaseEstimator]] = field(default_factory=dict)

    def features(self, texts: Sequence[Text]) -> sp.csr_matrix:
        """TF-IDF features of texts or sentence pairs (:func:`bertdistill.pairs.student_text`)."""
        return self.featurizer.transform([student_text(text) for text in texts])

    def logits(self, name: str, texts: Sequence[Text] | None = None, features=None) -> np.ndarray:
        if features is None:
            features = self.features(texts)
        return student_logits(self.models[name], features, self.target, self.temperature)

    def replicate_logits(self, name: str, features) -> dict[int, np.ndarray]:
        """Each replicate seed's logits of student ``name`` on ``features`` (none for a student
        whose fit is deterministic: it is not re-fitted)."""
        return {
            seed: student_logits(models[name], features, self.target, self.temperature)
            for seed, models in self.replicates.items()
            if name in models
        }

    def refitted(self) -> tuple[str, ...]:
        """The students re-fitted with further seeds, in registry order."""
        names = {name for models in self.replicates.values() for name in models}
        return tuple(student.name for student in STUDENTS if student.name in names)

    def proba_function(self, name: str):
        """``texts -> [[p(class 0), p(class 1), ...], ...]`` for LIME."""

        def proba(texts):
            return class_proba(self.logits(name, list(texts)))

        return proba


@dataclass
class Selection:
    """The hyperparameters a search kept for one student, and its validation accuracy."""

    hyperparameters: dict
    val_accuracy: float
    tried: int


SOURCES = ("labelled", "unlabelled", "augmented")


@dataclass
class TransferSet:
    """What the distilled students learn from: texts, the teacher's logits on them, the gold
    label where there is one (-1 elsewhere) and the source of each row (see :data:`SOURCES`)."""

    texts: list[Text]
    teacher_logits: np.ndarray  # (rows,) for two classes, (rows, K) beyond
    gold: np.ndarray
    source: np.ndarray

    @classmethod
    def build(
        cls,
        labelled: tuple[list[str], np.ndarray, np.ndarray],
        unlabelled: tuple[list[str], np.ndarray],
        augmented: tuple[list[str], np.ndarray] = ([], np.empty(0)),
    ) -> TransferSet:
        """From (texts, gold labels, teacher logits) of the labelled reviews and (texts, teacher
        logits) of the unlabelled pool and of the synthetic variants."""
        parts = [
            (labelled[0], labelled[2], np.asarray(labelled[1]), "labelled"),
            (unlabelled[0], unlabelled[1], np.full(len(unlabelled[0]), -1), "unlabelled"),
            (augmented[0], augmented[1], np.full(len(augmented[0]), -1), "augmented"),
        ]
        for texts, logits, gold, name in parts:
            if not len(texts) == len(logits) == len(gold):
                raise ValueError(f"{name}: {len(texts)} texts but {len(logits)} teacher logits")
        logits = [np.asarray(part[1], dtype=np.float64) for part in parts]
        per_text = logits[0].shape[1:]  # () or (K,); an empty part takes the labelled rows'
        return cls(
            texts=[text for part in parts for text in part[0]],
            teacher_logits=np.concatenate([part.reshape(len(part), *per_text) for part in logits]),
            gold=np.concatenate([p[2] for p in parts]).astype(np.int64),
            source=np.concatenate([np.full(len(p[0]), p[3]) for p in parts]),
        )

    def counts(self) -> dict[str, int]:
        """Rows per source, every source named (0 when absent)."""
        return {name: int(np.sum(self.source == name)) for name in SOURCES}


def unlabeled_subset(size: int, limit: int | None, seed: int) -> np.ndarray:
    """Positions, in order, of a seeded random ``limit`` of ``size`` unlabelled rows (all when
    ``limit`` is None). Subsets are nested: a smaller limit keeps part of a larger one's rows, so
    a curve over limits adds reviews rather than swapping them."""
    if limit is None:
        return np.arange(size)
    if limit > size:
        raise ValueError(f"limit {limit} exceeds the {size} rows")
    return np.sort(np.random.default_rng(seed).permutation(size)[:limit])


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
    params: StudentParams,
    seed: int,
    outputs: int,
    data: tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray],
) -> tuple[BaseEstimator, float]:
    """One student fitted with ``hyperparameters`` and ``seed`` on ``data`` (features, targets,
    validation features, validation labels), and its validation accuracy."""
    features, target, val_features, val_labels = data
    model = build_student(kind, variant, hyperparameters, params, seed, outputs)
    model.fit(features, target)
    logits = student_logits(model, val_features, params.target, params.temperature)
    return model, float(np.mean(predicted_classes(logits) == val_labels))


def fit_students(
    transfer: TransferSet,
    val_texts: Sequence[Text],
    val_labels: np.ndarray,
    params: StudentParams,
    seed: int,
) -> tuple[Students, dict[str, Selection]]:
    """Fit baselines on the gold labels of the labelled rows only and distilled regressors on the
    teacher's outputs over the whole transfer set; all share one TF-IDF featuriser fitted on the
    transfer set's texts.

    Each student's hyperparameters are chosen by accuracy on the validation split (gold labels),
    never on the test split. With ``params.seeds`` > 1 the chosen configuration of a student
    whose fit draws random numbers (:func:`draws_random_numbers`: tree tie-breaking, the SVMs'
    coordinate order) is re-fitted with seeds ``seed + 1``, ``seed + 2``, ... (the replicates):
    their spread is what that randomness is worth; a deterministic student has none to measure.
    Candidates, then replicates, are fitted ``params.n_jobs`` at a time (joblib processes); each
    fit is the same whatever the count.
    """
    featurizer, transfer_features = fit_featurizer(
        params.tfidf, [student_text(text) for text in transfer.texts]
    )
    labelled = np.flatnonzero(transfer.source == "labelled")
    val_features = featurizer.transform([student_text(text) for text in val_texts])
    outputs = 1 if transfer.teacher_logits.ndim == 1 else transfer.teacher_logits.shape[1]
    targets = distillation_targets(
        transfer.teacher_logits,
        params.target,
        params.temperature,
        transfer.gold,
        params.gold_alpha,
    )
    logger.info(
        "transfer set: %s texts, %d TF-IDF features",
        ", ".join(f"{count} {name}" for name, count in transfer.counts().items()),
        transfer_features.shape[1],
    )
    data = {
        "baseline": (
            transfer_features[labelled],
            transfer.gold[labelled],
            val_features,
            val_labels,
        ),
        "distilled": (transfer_features, targets, val_features, val_labels),
    }
    grids = {s.name: candidates(search_space(s.kind, s.variant, params)) for s in STUDENTS}
    jobs = [(student, hyper) for student in STUDENTS for hyper in grids[student.name]]
    parallel = Parallel(n_jobs=params.n_jobs)
    fitted = parallel(
        delayed(fit_candidate)(s.kind, s.variant, hyper, params, seed, outputs, data[s.variant])
        for s, hyper in jobs
    )
    models, selections = {}, {}
    for student in STUDENTS:
        best, best_accuracy = None, -1.0
        for (owner, hyperparameters), (model, accuracy) in zip(jobs, fitted, strict=True):
            if owner is not student:
                continue
            logger.info("%s %s: validation accuracy %.4f", student.name, hyperparameters, accuracy)
            if accuracy > best_accuracy:  # ties go to the first candidate
                best, best_accuracy = (model, hyperparameters), accuracy
        models[student.name] = best[0]
        selections[student.name] = Selection(best[1], best_accuracy, len(grids[student.name]))
    seeded = [s for s in STUDENTS if draws_random_numbers(models[s.name])]
    others = range(seed + 1, seed + params.seeds)
    refits = [(student, other) for other in others for student in seeded]
    refitted = parallel(
        delayed(fit_candidate)(
            s.kind, s.variant, selections[s.name].hyperparameters, params, other, outputs,
            data[s.variant],
        )
        for s, other in refits
    )  # fmt: skip
    replicates: dict[int, dict[str, BaseEstimator]] = {other: {} for other in others}
    for (student, other), (model, _) in zip(refits, refitted, strict=True):
        replicates[other][student.name] = model
    students = Students(featurizer, models, params.target, params.temperature, replicates)
    return students, selections
