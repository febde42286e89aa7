"""The checks a source passes once its texts are cleaned and deduplicated, before any split is
cut or written: every labelled pool holds every class, and each size fits its pool and a
stratified cut. Each refusal is one line naming the file or params key and the fix."""

from __future__ import annotations

import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.params import SENTIMENT_CLASSES


def class_names(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The class names in id order: ``classes``, or negative/positive where none are given."""
    return tuple(classes) or SENTIMENT_CLASSES


def check_every_class(
    pool: pd.DataFrame, origin: str, dropped: dict[str, int], classes: tuple[str, ...]
) -> None:
    """A labelled pool (train or test) with no rows, or missing a class once blank texts and
    duplicates are gone, would break stratification and every metric."""
    names = class_names(classes)
    after = _after(dropped)
    if pool.empty:
        read = sum(dropped.values())
        if not read:
            raise UserError(f"{origin} holds no rows: export the whole split again")
        fix = "fill in its texts, or set prepare.text_column to the column that holds them"
        if dropped.get("test_repeats"):
            fix = "set prepare.drop_test_duplicates to false, or test on texts of its own"
        raise UserError(f"{origin} has no text left of its {read} rows{after}: {fix}")
    missing = [name for index, name in enumerate(names) if not (pool["label"] == index).any()]
    if not missing:
        return
    if classes:
        listed = ", ".join(repr(name) for name in missing)
        raise UserError(
            f"{origin} holds no rows of class {listed}{after}: train and test need every class "
            f"of prepare.classes; export the whole split again, or list only its classes"
        )
    found = names[int(pool["label"].iloc[0])]
    raise UserError(
        f"{origin} holds only {found} reviews{after}: train and test need negative and positive "
        f"reviews; export the whole split again"
    )


def check_size(
    key: str, wanted: int, pool: pd.DataFrame, origin: str, dropped: dict[str, int]
) -> None:
    if wanted > len(pool):
        raise UserError(
            f"params key '{key}' asks for {wanted} rows but {origin} has {len(pool)}"
            f"{_after(dropped)}: lower it"
        )


def check_cut(key: str, size: int, pool: pd.DataFrame, origin: str, names: tuple[str, ...]) -> None:
    """A stratified cut of ``size`` rows from ``pool`` (the rest kept apart) needs every class
    twice in the pool, and both parts at least as large as the number of classes."""
    classes = len(names)
    if size >= len(pool):
        return
    if size < classes:
        raise UserError(
            f"params key '{key}' is {size}, fewer than the {classes} classes a stratified "
            f"sample holds: raise it to at least {classes}"
        )
    if len(pool) - size < classes:
        raise UserError(
            f"params key '{key}' is {size} and leaves {len(pool) - size} of the {len(pool)} rows "
            f"of {origin}, fewer than its {classes} classes: lower it to at most "
            f"{len(pool) - classes}"
        )
    counts = pool["label"].value_counts()
    if counts.min() < 2:
        raise UserError(
            f"params key '{key}' cuts a stratified sample from {origin}, which holds "
            f"{counts.min()} row of class {names[counts.idxmin()]!r}: each class needs 2 or more "
            f"there; use data with more rows of each class"
        )


def _after(dropped: dict[str, int]) -> str:
    """Why a pool is smaller than its table: `` once 3 blank or short texts ... are dropped``."""
    reasons = {
        "short": "blank or shorter than prepare.min_chars",
        "duplicates": "repeated",
        "conflicting": "rows of texts with two labels",
        "labelled": "also labelled texts",
        "test_repeats": "repeats of train or unsup texts (prepare.drop_test_duplicates)",
    }
    parts = [f"{count} {reasons[why]}" for why, count in dropped.items() if count]
    return f" once rows are dropped ({', '.join(parts)})" if parts else ""
