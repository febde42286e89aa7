"""The teacher's side of the explanations, the ``explain_teacher`` stage: everything that depends
only on the teacher, the test split and the teacher-side ``explain`` keys, computed once and
stored, so that an experiment on the students or on how explanations are measured reuses it.

On the chosen test reviews: the teacher's logits; its attributions (Integrated Gradients and
guided occlusion, its reference, on all of them, full occlusion and LIME on the first few); the
per-review ERASER measures of each attribution and of a random ranking; and the teacher's logits
on the deletion texts every model is compared on. The ``explain`` stage reads them back
(:func:`read_teacher_explanations`) and adds the students, the statistics and the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_folder, read_json, write_json
from bertdistill.core.tables import PAIR, frame_logits
from bertdistill.core.texts import Text
from bertdistill.explain.attributions import Attribution

IG_METHOD = "integrated_gradients"
# The teacher's reference attribution (all reviews): as faithful as LIME with 1,000 samples at a
# sixteenth of its cost (bench/teacher_attribution.py, docs/benchmarks.md).
TEACHER_METHOD = "guided_occlusion"
RANDOM = "random"  # the floor: a seeded random ranking of each review's words
REVIEWS_FILE = "reviews.parquet"  # the chosen reviews with the teacher's logits
DELETIONS_FILE = "deletions.parquet"  # the deletion texts with the teacher's logits
EXPLAINED_FILE = "explanations.json"  # settings, spec, attributions and ERASER values


@dataclass(frozen=True)
class TeacherExplanations:
    """What the ``explain_teacher`` stage stores. ``reviews`` and ``deleted`` hold the teacher's
    logits as ``teacher_logit`` column(s); ``attributions`` and ``eraser`` are keyed by
    explainer in the order they were made (``eraser`` also holds :data:`RANDOM`), each
    attribution list covering the first ``len(...)`` reviews."""

    reviews: pd.DataFrame
    deleted: pd.DataFrame
    attributions: dict[str, list[Attribution]]
    eraser: dict[str, dict[str, np.ndarray]]
    settings: dict[str, float | int]
    spec: dict

    @property
    def logits(self) -> np.ndarray:
        return frame_logits(self.reviews)

    @property
    def targets(self) -> np.ndarray | None:
        """K classes: the class explained per review, the one the teacher predicts."""
        logits = self.logits
        return logits.argmax(axis=1) if logits.ndim == 2 else None


def texts_frame(texts: Sequence[Text]) -> pd.DataFrame:
    """Texts as a table: a ``text`` column, and ``text_pair`` for sentence pairs."""
    if texts and not isinstance(texts[0], str):
        first, second = zip(*texts, strict=True)
        return pd.DataFrame({"text": list(first), PAIR: list(second)})
    return pd.DataFrame({"text": list(texts)})


def write_teacher_explanations(folder: str | Path, explained: TeacherExplanations) -> None:
    """Store ``explained`` in ``folder`` (replaced whole, atomically): two Parquet tables
    (logits keep their float32 bytes) and one JSON file (floats written exactly)."""
    stored = {
        "settings": explained.settings,
        "spec": explained.spec,
        "methods": list(explained.attributions),  # their order: JSON keys are written sorted
        "attributions": {
            method: [_stored(item) for item in items]
            for method, items in explained.attributions.items()
        },
        "eraser": {
            method: {measure: values.tolist() for measure, values in measures.items()}
            for method, measures in explained.eraser.items()
        },
    }
    with atomic_folder(folder) as tmp:
        explained.reviews.to_parquet(tmp / REVIEWS_FILE, index=False)
        explained.deleted.to_parquet(tmp / DELETIONS_FILE, index=False)
        write_json(tmp / EXPLAINED_FILE, stored)


def read_teacher_explanations(folder: str | Path) -> TeacherExplanations:
    """What :func:`write_teacher_explanations` stored in ``folder``."""
    folder = Path(folder)
    missing = [
        name
        for name in (REVIEWS_FILE, DELETIONS_FILE, EXPLAINED_FILE)
        if not (folder / name).is_file()
    ]
    if missing:
        raise UserError(
            f"{folder / missing[0]} not found: run the stage that writes it "
            "(`dvc repro explain_teacher`)"
        )
    try:
        return _explanations(folder, read_json(folder / EXPLAINED_FILE))
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{folder / EXPLAINED_FILE} is not what explain_teacher writes ({error!r}): re-run "
            "`dvc repro -f explain_teacher`"
        ) from None


def _explanations(folder: Path, stored: dict) -> TeacherExplanations:
    return TeacherExplanations(
        reviews=pd.read_parquet(folder / REVIEWS_FILE),
        deleted=pd.read_parquet(folder / DELETIONS_FILE),
        attributions={
            method: [_attribution(item) for item in stored["attributions"][method]]
            for method in stored["methods"]
        },
        eraser={
            method: {measure: np.asarray(values) for measure, values in measures.items()}
            for method, measures in stored["eraser"].items()
        },
        settings=stored["settings"],
        spec=stored["spec"],
    )


def _stored(attribution: Attribution) -> dict:
    """An attribution as JSON; its words as [word, value] pairs, since their order (the review's)
    breaks ties in rankings and fixes the order of sums, and JSON objects are written sorted."""
    return dataclasses.asdict(attribution) | {"words": list(attribution.words.items())}


def _attribution(stored: dict) -> Attribution:
    return Attribution(**stored | {"words": dict(stored["words"])})
