"""Clean the raw splits (:mod:`bertdistill.data.sources` reads them) and cut seeded, stratified
train/validation/test/unlabeled splits."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from bertdistill.core.errors import UserError
from bertdistill.core.tables import PAIR
from bertdistill.data.checks import check_cut, check_every_class, check_size, class_names
from bertdistill.data.imdb import UNLABELED

logger = logging.getLogger(__name__)

_BREAK_TAG = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    unlabeled: pd.DataFrame
    # What cleaning dropped and how much of the test split repeats a training text.
    report: dict[str, int] = field(default_factory=dict)

    def items(self) -> Iterable[tuple[str, pd.DataFrame]]:
        return (
            ("train", self.train),
            ("validation", self.validation),
            ("test", self.test),
            ("unlabeled", self.unlabeled),
        )


def clean_text(text: str) -> str:
    """Replace IMDB's ``<br />`` tags by spaces and collapse runs of whitespace."""
    return _SPACES.sub(" ", _BREAK_TAG.sub(" ", text)).strip()


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The text columns: ``text``, and ``text_pair`` for sentence pairs."""
    return [column for column in ("text", PAIR) if column in frame.columns]


def clean_frame(frame: pd.DataFrame, split: str, min_chars: int) -> pd.DataFrame:
    """Clean texts, give each row a stable id, and drop rows with a text (either text of a
    pair) shorter than ``min_chars``."""
    columns = text_columns(frame)
    cleaned = frame.assign(**{column: frame[column].map(clean_text) for column in columns})
    cleaned.insert(0, "id", [f"{split}-{index:06d}" for index in range(len(cleaned))])
    long_enough = [cleaned[column].str.len() >= max(min_chars, 1) for column in columns]
    kept = cleaned[np.logical_and.reduce(long_enough)]
    if len(kept) < len(cleaned):
        logger.info("%s: dropped %d empty or too short texts", split, len(cleaned) - len(kept))
    return kept.reset_index(drop=True)


def make_splits(
    raw: dict[str, pd.DataFrame],
    train_size: int,
    val_size: int,
    test_size: int | None,
    unlabeled_size: int | None,
    seed: int,
    min_chars: int = 1,
    drop_test_duplicates: bool = False,
    unlabeled_from_train: bool = False,
    classes: tuple[str, ...] = (),
) -> Splits:
    """Cut seeded, stratified splits; validation comes from the train pool, never from test.

    Each pool is cleaned and holds each text (pair) once (:func:`drop_duplicates`); unsup texts
    that are also train texts are left out; then :mod:`bertdistill.data.checks` refuses pools
    missing a class (``classes`` names them; none: negative/positive) and sizes that do not fit.
    The unlabelled texts come from the unsup pool or, with ``unlabeled_from_train``, from the
    train pool's rows that train and validation left (their labels hidden); ``unlabeled_size``
    None takes all of them. Test texts (pairs) that also occur in the train or unsup pool are
    counted, and with ``drop_test_duplicates`` left out of the test pool before it is sampled.
    The report counts every row dropped.
    """
    names = class_names(classes)
    unsup = raw.get("unsup")
    pools = {
        "train": raw["train"],
        "test": raw["test"],
        "unsup": unsup if unsup is not None else raw["train"][:0],
    }
    origins = {
        name: frame.attrs.get("origin", f"the {name} table") for name, frame in pools.items()
    }
    cleaned, dropped = {}, {}
    for name, frame in pools.items():
        unique, duplicates, conflicting = drop_duplicates(clean_frame(frame, name, min_chars))
        cleaned[name] = unique
        short = len(frame) - len(unique) - duplicates - conflicting
        dropped[name] = {"short": short, "duplicates": duplicates, "conflicting": conflicting}
    train_pool, test_pool, unsup_pool = cleaned["train"], cleaned["test"], cleaned["unsup"]
    labelled = _keys(unsup_pool).isin(set(_keys(train_pool)))
    unsup_pool = unsup_pool[~labelled].reset_index(drop=True)
    dropped["unsup"] = {
        "short": dropped["unsup"]["short"],
        "duplicates": dropped["unsup"]["duplicates"],
        "labelled": int(labelled.sum()),
    }
    report = {
        f"{name}_dropped_{why}": count for name in pools for why, count in dropped[name].items()
    }
    seen = set(_keys(train_pool)) | set(_keys(unsup_pool))
    repeated = _keys(test_pool).isin(seen)
    report["test_pool_duplicates"] = int(repeated.sum())
    if drop_test_duplicates:
        test_pool = test_pool[~repeated].reset_index(drop=True)
        dropped["test"]["test_repeats"] = int(repeated.sum())
        logger.info("test: left out %d texts that also occur in train or unsup", repeated.sum())

    for name, pool in (("train", train_pool), ("test", test_pool)):
        check_every_class(pool, origins[name], dropped[name], classes)
    sizes = "prepare.train_size + prepare.val_size"
    check_size(sizes, train_size + val_size, train_pool, origins["train"], dropped["train"])
    if test_size is not None:
        check_size("prepare.test_size", test_size, test_pool, origins["test"], dropped["test"])
    if unsup is None and not unlabeled_from_train and unlabeled_size != 0:
        asked = (
            "is null (the whole pool)"
            if unlabeled_size is None
            else (f"asks for {unlabeled_size} rows")
        )
        raise UserError(
            f"params key 'prepare.unlabeled_size' {asked} but there is no "
            f"unlabelled table beside {origins['train']} (prepare.unlabeled_split names its "
            f"stem, unsup by default): add one, or set prepare.unlabeled_size to 0"
        )
    if not unlabeled_from_train and unlabeled_size is not None:
        check_size(
            "prepare.unlabeled_size", unlabeled_size, unsup_pool, origins["unsup"], dropped["unsup"]
        )
    train, rest = _stratified_take(
        train_pool, train_size, seed, "prepare.train_size", origins["train"], names
    )
    left_by_train = f"what prepare.train_size leaves of {origins['train']}"
    validation, left = _stratified_take(
        rest, val_size, seed, "prepare.val_size", left_by_train, names
    )
    test = test_pool
    if test_size is not None:
        test, _ = _stratified_take(
            test_pool, test_size, seed, "prepare.test_size", origins["test"], names
        )
    if unlabeled_from_train:
        unsup_pool = left
        what = f"what train and validation leave of {origins['train']}"
        if unlabeled_size is not None:
            check_size("prepare.unlabeled_size", unlabeled_size, unsup_pool, what, {})
    wanted = len(unsup_pool) if unlabeled_size is None else unlabeled_size
    if not wanted and unlabeled_size is None:
        logger.warning("prepare.unlabeled_size is null but no unlabelled text is left to take")
    unlabeled = unsup_pool.sample(n=wanted, random_state=seed).assign(label=UNLABELED)
    used = set(_keys(train)) | set(_keys(validation)) | set(_keys(unlabeled))
    report["test_duplicates_of_used_texts"] = int(_keys(test).isin(used).sum())
    return Splits(
        train=_sorted(train),
        validation=_sorted(validation),
        test=_sorted(test),
        unlabeled=_sorted(unlabeled),
        report=report,
    )


def drop_duplicates(pool: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """``pool`` with each text (pair) once, and how many rows were repeats and how many carried
    a text that has two or more labels. Repeats of a text with one label keep the first copy; a
    text with two labels loses every copy, since neither label can be trusted and keeping one
    would let row order pick it."""
    keys = _keys(pool)
    conflicting = pool.groupby(keys)["label"].transform("nunique").gt(1)
    repeated = keys.duplicated() & ~conflicting
    kept = pool[~(conflicting | repeated)].reset_index(drop=True)
    return kept, int(repeated.sum()), int(conflicting.sum())


def _keys(frame: pd.DataFrame) -> pd.Series:
    """What makes two rows the same text: the text, or both texts of a pair."""
    if PAIR not in frame.columns:
        return frame["text"]
    return frame["text"] + "\x1f" + frame[PAIR]


def label_shares(frame: pd.DataFrame, classes: tuple[str, ...]) -> dict[str, float]:
    """A labelled split's class shares: ``positive_share`` for the binary default, else
    ``share_<class>`` per class of ``classes`` (in id order)."""
    if not classes:
        return {"positive_share": round(float(frame["label"].mean()), 6)}
    counts = frame["label"].value_counts()
    return {
        f"share_{name}": round(float(counts.get(index, 0) / len(frame)), 6)
        for index, name in enumerate(classes)
    }


def _stratified_take(
    pool: pd.DataFrame, size: int, seed: int, key: str, origin: str, names: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``size`` rows of ``pool`` with its label shares, and the rest; ``key`` names the param."""
    check_cut(key, size, pool, origin, names)
    if size >= len(pool):
        return pool, pool[:0]
    taken, rest = train_test_split(
        pool, train_size=size, stratify=pool["label"], random_state=seed, shuffle=True
    )
    return taken, rest


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)[["id", *text_columns(frame), "label"]]
