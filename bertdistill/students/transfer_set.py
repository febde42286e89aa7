"""The transfer set, what the distilled students learn from: the labelled reviews, the unlabelled
pool (or a seeded nested subset of it) and the synthetic variants, with the teacher's logits on
each, and the targets the distilled regressors fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.logits import sigmoid, softmax
from bertdistill.core.stage import read_frame, read_with_logits
from bertdistill.core.tables import frame_logits, frame_texts
from bertdistill.core.texts import Text

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

    @property
    def outputs(self) -> int:
        """Teacher logits per text: 1 for two classes, K beyond."""
        return 1 if self.teacher_logits.ndim == 1 else self.teacher_logits.shape[1]

    def counts(self) -> dict[str, int]:
        """Rows per source, every source named (0 when absent)."""
        return {name: int(np.sum(self.source == name)) for name in SOURCES}


def read_transfer_set(
    train: Sequence[str | Path],
    unlabeled: Sequence[str | Path],
    augmented: str | Path | None,
    unlabeled_limit: int | None,
    seed: int,
) -> TransferSet:
    """The transfer set from label_with_teacher's tables: ``train`` and ``unlabeled`` are
    (texts, logits) table pairs, ``augmented`` the synthetic variants' table (or none), the
    pool cut to a seeded ``unlabeled_limit`` (``distill_students.unlabeled_limit``)."""
    labelled = read_with_logits(*train)
    pool = read_with_logits(*unlabeled)
    if unlabeled_limit is not None and unlabeled_limit > len(pool):
        raise UserError(
            f"params key 'distill_students.unlabeled_limit' is {unlabeled_limit} but "
            f"{unlabeled[0]} has {len(pool)} reviews: lower it, or raise prepare.unlabeled_size"
        )
    pool = pool.iloc[unlabeled_subset(len(pool), unlabeled_limit, seed)]
    variants = (
        read_frame(augmented, columns=("id", "student_text"))
        if augmented
        else pd.DataFrame({"student_text": [], "teacher_logit": []})
    )
    return TransferSet.build(
        (frame_texts(labelled), labelled["label"].to_numpy(), frame_logits(labelled)),
        (frame_texts(pool), frame_logits(pool)),
        (variants["student_text"].tolist(), frame_logits(variants)),
    )


def unlabeled_subset(size: int, limit: int | None, seed: int) -> np.ndarray:
    """Positions, in order, of a seeded random ``limit`` of ``size`` unlabelled rows (all when
    ``limit`` is None). Subsets are nested: a smaller limit keeps part of a larger one's rows, so
    a curve over limits adds reviews rather than swapping them."""
    if limit is None:
        return np.arange(size)
    if limit > size:
        raise ValueError(f"limit {limit} exceeds the {size} rows")
    return np.sort(np.random.default_rng(seed).permutation(size)[:limit])


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
