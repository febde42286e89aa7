"""Interpretable students as the later stages read them: the fitted TF-IDF featuriser and the
six students, and their outputs as logits (fitting them: :mod:`bertdistill.students.fitting`;
saving and loading: :mod:`bertdistill.students.files`). With K > 2 classes the baselines are
multinomial (LR), one-vs-rest (SVM) and multi-class (tree) classifiers, and the distilled twins
regress all K teacher logits (multi-output Ridge, one LinearSVR per class, a multi-output tree);
every student predicts the arg-max."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.tree import DecisionTreeClassifier

from bertdistill.core.logits import class_proba
from bertdistill.core.registry import STUDENTS
from bertdistill.core.texts import Text
from bertdistill.students.pair_features import student_text

_EPS = 1e-6


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
        """TF-IDF features of texts or sentence pairs
        (:func:`bertdistill.students.pair_features.student_text`)."""
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
