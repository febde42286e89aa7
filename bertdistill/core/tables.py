"""The columns the stages' tables share: a sentence pair's second text, the teacher's logits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.texts import Text

PAIR = "text_pair"  # the second text of a sentence pair (read from prepare.pair_column)
LOGIT = "teacher_logit"  # the teacher's logit; teacher_logit_<k> per class for K classes


def frame_texts(frame: pd.DataFrame) -> list[Text]:
    """A table's texts: its ``text`` column, or (text, text_pair) tuples for sentence pairs."""
    if PAIR in frame.columns:
        return list(zip(frame["text"].tolist(), frame[PAIR].tolist(), strict=True))
    return frame["text"].tolist()


def logit_columns(logits: np.ndarray) -> dict[str, np.ndarray]:
    """The columns a logits table holds: ``teacher_logit``, or one per class (K logits)."""
    logits = np.asarray(logits)
    if logits.ndim == 1:
        return {LOGIT: logits}
    return {f"{LOGIT}_{k}": logits[:, k] for k in range(logits.shape[1])}


def frame_logits(frame: pd.DataFrame) -> np.ndarray:
    """The teacher's logits a table holds: shape ``(rows,)``, or ``(rows, K)`` for K classes."""
    if LOGIT in frame.columns:
        return frame[LOGIT].to_numpy()
    count = sum(column.startswith(f"{LOGIT}_") for column in frame.columns)
    if not count:
        raise UserError(
            f"a table without the teacher's logits ({LOGIT}) was read as logits: re-run "
            f"`dvc repro label_with_teacher`"
        )
    return frame[[f"{LOGIT}_{k}" for k in range(count)]].to_numpy()
