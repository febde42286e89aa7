"""The linear students without scikit-learn: TF-IDF and a dot product in numpy.

`distill_students` writes `linear/` beside the skops files: the featuriser's idf weights and each
linear student's coefficients as `.npy` files, and the analyser settings as JSON. `predict` reads
them, which takes a fraction of a second where importing scikit-learn and skops takes seconds.
The skops files stay the reference: a test checks both give the same logits.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bertdistill.core.errors import UserError
from bertdistill.core.registry import LINEAR_STUDENTS
from bertdistill.core.texts import Text
from bertdistill.students.pair_features import student_text

LINEAR_DIR = "linear"
LINEAR_META = "linear.json"
_EPS = 1e-6


def exportable(featurizer) -> bool:
    """Whether ``featurizer`` is the plain word-n-gram TF-IDF this module reproduces."""
    return (
        featurizer.analyzer == "word"
        and featurizer.input == "content"
        and featurizer.preprocessor is None
        and featurizer.tokenizer is None
        and featurizer.stop_words is None
        and featurizer.strip_accents is None
        and featurizer.norm == "l2"
        and featurizer.use_idf
        and not featurizer.binary
    )


def export_linear(
    folder: Path, featurizer, models: dict, vocabulary_file: str, target: str, temperature: float
) -> None:
    """Write ``folder/linear/``: idf, every linear student's weights, and how to read them."""
    out = folder / LINEAR_DIR
    out.mkdir()
    np.save(out / "idf.npy", np.asarray(featurizer.idf_, dtype=np.float64))
    students = {}
    for name in LINEAR_STUDENTS:
        model = models[name]
        np.save(out / f"{name}.coef.npy", np.ravel(model.coef_).astype(np.float64))
        classifier = hasattr(model, "decision_function")
        students[name] = {
            "intercept": float(np.ravel(model.intercept_)[0]),
            # classifiers: the decision function is the logit; regressors: their target scale
            "output": "logit" if classifier else target,
        }
    meta = {
        "vocabulary": vocabulary_file,
        "lowercase": bool(featurizer.lowercase),
        "token_pattern": featurizer.token_pattern,
        "ngram_range": list(featurizer.ngram_range),
        "sublinear_tf": bool(featurizer.sublinear_tf),
        "temperature": temperature,
        "students": students,
    }
    (out / LINEAR_META).write_text(json.dumps(meta, indent=2) + "\n")


class LinearStudent:
    """``logits(texts)`` of one linear student from ``linear/``, without scikit-learn."""

    def __init__(self, folder: str | Path, name: str) -> None:
        folder = Path(folder)
        linear = folder / LINEAR_DIR
        try:
            meta = json.loads((linear / LINEAR_META).read_text(encoding="utf-8"))
            student = meta["students"][name]
            terms = json.loads((folder / meta["vocabulary"]).read_text(encoding="utf-8"))
            self.idf = np.load(linear / "idf.npy", allow_pickle=False)
            self.coef = np.load(linear / f"{name}.coef.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError) as error:
            raise UserError(
                f"{linear} is missing or incomplete for {name} ({error}): "
                f"re-run `dvc repro -f distill_students`"
            ) from None
        if not len(terms) == len(self.idf) == len(self.coef):
            raise UserError(
                f"{linear} does not match {folder / meta['vocabulary']}: "
                f"re-run `dvc repro -f distill_students`"
            )
        self.vocabulary = {term: column for column, term in enumerate(terms)}
        self.pattern = re.compile(meta["token_pattern"])
        self.lowercase = meta["lowercase"]
        self.min_n, self.max_n = meta["ngram_range"]
        self.sublinear_tf = meta["sublinear_tf"]
        self.temperature = meta["temperature"]
        self.intercept = student["intercept"]
        self.output = student["output"]

    def terms(self, text: str) -> list[str]:
        """scikit-learn's word analyser: lowercase, token pattern, n-grams joined by spaces."""
        tokens = self.pattern.findall(text.lower() if self.lowercase else text)
        grams = list(tokens) if self.min_n == 1 else []
        for n in range(max(self.min_n, 2), min(self.max_n, len(tokens)) + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def raw_output(self, text: Text) -> float:
        text = student_text(text)
        counts = Counter(
            column for term in self.terms(text) if (column := self.vocabulary.get(term)) is not None
        )
        if not counts:
            return self.intercept
        columns = np.fromiter(sorted(counts), dtype=np.int64)
        tf = np.array([counts[column] for column in columns], dtype=np.float64)
        if self.sublinear_tf:
            tf = np.log(tf) + 1
        values = tf * self.idf[columns]
        values /= math.sqrt(float(values @ values))
        return float(values @ self.coef[columns]) + self.intercept

    def logits(self, texts: Sequence[Text]) -> np.ndarray:
        outputs = np.array([self.raw_output(text) for text in texts], dtype=np.float64)
        if self.output == "logit":
            return outputs
        if self.output == "logits":
            return outputs * self.temperature
        clipped = np.clip(outputs, _EPS, 1 - _EPS)  # a regressor fit to probabilities
        return np.log(clipped / (1 - clipped)) * self.temperature
