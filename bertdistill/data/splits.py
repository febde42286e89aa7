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
from bertdistill.data.sources import UNLABELED

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
    unlabeled_size: int,
    seed: int,
    min_chars: int = 1,
    drop_test_duplicates: bool = False,
    unlabeled_from_train: bool = False,
) -> Splits:
    """Cut seeded, stratified splits; validation comes from the train pool, never from test.

    The unlabelled texts come from the unsup pool or, with ``unlabeled_from_train``, from the
    train pool's rows that train and validation left (their labels hidden). Test texts (pairs)
    that also occur in the train or unsup pool are counted, and with ``drop_test_duplicates``
    left out of the test pool before it is sampled.
    """
    unsup = raw.get("unsup")
    pools = {
        "train": raw["train"],
        "test": raw["test"],
        "unsup": unsup if unsup is not None else raw["train"][:0],
    }
    cleaned = {name: clean_frame(frame, name, min_chars) for name, frame in pools.items()}
    report = {f"{name}_dropped_short": len(pools[name]) - len(cleaned[name]) for name in pools}
    train_pool, test_pool, unsup_pool = cleaned["train"], cleaned["test"], cleaned["unsup"]
    seen = set(_keys(train_pool)) | set(_keys(unsup_pool))
    repeated = _keys(test_pool).isin(seen)
    report["test_pool_duplicates"] = int(repeated.sum())
    if drop_test_duplicates:
        test_pool = test_pool[~repeated].reset_index(drop=True)
        logger.info("test: left out %d texts that also occur in train or unsup", repeated.sum())

    _check_size("prepare.train_size + prepare.val_size", train_size + val_size, train_pool, "train")
    train, rest = _stratified_take(train_pool, train_size, seed, "prepare.train_size")
    validation, left = _stratified_take(rest, val_size, seed, "prepare.val_size")
    if test_size is None:
        test = test_pool
    else:
        _check_size("prepare.test_size", test_size, test_pool, "test")
        test, _ = _stratified_take(test_pool, test_size, seed, "prepare.test_size")
    if unlabeled_from_train:
        unsup_pool, pool_name = left, "train (after train and validation)"
    else:
        pool_name = "unsup"
    _check_size("prepare.unlabeled_size", unlabeled_size, unsup_pool, pool_name)
    unlabeled = unsup_pool.sample(n=unlabeled_size, random_state=seed).assign(label=UNLABELED)
    used = set(_keys(train)) | set(_keys(validation)) | set(_keys(unlabeled))
    report["test_duplicates_of_used_texts"] = int(_keys(test).isin(used).sum())
    return Splits(
        train=_sorted(train),
        validation=_sorted(validation),
        test=_sorted(test),
        unlabeled=_sorted(unlabeled),
        report=report,
    )


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


def _check_size(key: str, wanted: int, pool: pd.DataFrame, split: str) -> None:
    if wanted > len(pool):
        raise UserError(
            f"params key '{key}' asks for {wanted} rows but the {split} split has {len(pool)}: "
            f"lower it"
        )


def _stratified_take(
    pool: pd.DataFrame, size: int, seed: int, key: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``size`` rows of ``pool`` with its label shares, and the rest; ``key`` names the param."""
    if size >= len(pool):
        return pool, pool[:0]
    if size < 2:
        raise UserError(f"params key '{key}' is {size}: a stratified split needs at least 2 rows")
    if pool["label"].value_counts().min() < 2:
        raise UserError(
            f"params key '{key}' cuts from a pool with fewer than two texts of one label: "
            f"use data with more texts of each label"
        )
    taken, rest = train_test_split(
        pool, train_size=size, stratify=pool["label"], random_state=seed, shuffle=True
    )
    return taken, rest


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)[["id", *text_columns(frame), "label"]]
