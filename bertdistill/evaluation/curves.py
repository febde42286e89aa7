"""Curves over finished runs (:mod:`bertdistill.evaluation.experiments`): test accuracy of every
model, with its 95% interval, against the number of labelled reviews (``prepare.train_size``) or
of unlabelled reviews the students learnt from (``distill_students.unlabeled_limit``, as counted
in ``metrics/students.json``), and each step's change with a paired interval. A curve holds runs
that differ in its swept key only."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.registry import MODEL_NAMES
from bertdistill.evaluation.experiments import (
    EVALUATE_METRICS,
    PREPARE_METRICS,
    STUDENTS_METRICS,
    WORKSPACE,
    Run,
)
from bertdistill.evaluation.statistics import (
    INTERVAL_SUFFIXES,
    gain_keys,
    mean_intervals,
    paired_difference,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Curve:
    """A curve: its x column, the params key its runs differ in, its CSV and x-axis label."""

    x: str
    swept: tuple[str, str]
    csv: str
    label: str


CURVES = {
    "train_size": Curve(
        "train_size", ("prepare", "train_size"), "plots/label_efficiency.csv",
        "gold-labelled reviews",
    ),
    "unlabeled_size": Curve(
        "unlabeled_size", ("distill_students", "unlabeled_limit"), "plots/unlabeled_pool.csv",
        "unlabelled reviews labelled by the teacher",
    ),
}  # fmt: skip
SETTING = ["train_size", "unlabeled_size", "unlabeled_pool", "test_size", "seeds"]
ACCURACY_COLUMNS = [f"{model}{suffix}" for model in MODEL_NAMES for suffix in INTERVAL_SUFFIXES]
GAIN_COLUMNS = list(gain_keys())
COLUMNS = [*SETTING, "setting", "experiment", "commit", "rev", *ACCURACY_COLUMNS, *GAIN_COLUMNS]


IGNORED_SECTIONS = ("explain", "launcher")  # params that leave the test accuracies alone


def setting_digest(params: dict, swept: tuple[str, str]) -> str:
    """A short digest of every param that can move a test accuracy, but the swept one: runs of
    one curve share it. Empty (null) keys are left out, so an optional key added to
    ``params.yaml`` later leaves the digest of the runs before it alone."""
    section, key = swept
    ignored = {section, *IGNORED_SECTIONS}
    rest = {name: value for name, value in params.items() if name not in ignored}
    rest[section] = {k: v for k, v in (params.get(section) or {}).items() if k != key}
    return hashlib.sha256(json.dumps(_without_nulls(rest), sort_keys=True).encode()).hexdigest()[
        :12
    ]


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _row(run: Run, swept: tuple[str, str]) -> dict | None:
    """A run's curve row, or None when its metrics are missing or have no intervals."""
    evaluate, students = run.metrics.get(EVALUATE_METRICS), run.metrics.get(STUDENTS_METRICS)
    prepare = run.params.get("prepare") or {}
    if not evaluate or not students or prepare.get("train_size") is None:
        return None
    values = {
        f"{model}{suffix}": evaluate.get(f"{model}_accuracy{suffix}")
        for model in MODEL_NAMES
        for suffix in INTERVAL_SUFFIXES
    }
    values |= {name: evaluate.get(key) for name, key in gain_keys().items()}
    if any(value is None for value in values.values()):
        return None
    setting = {
        "train_size": prepare["train_size"],
        "unlabeled_size": students.get("unlabeled_size"),
        # the count prepare wrote: the param is null where it took the whole pool
        "unlabeled_pool": (run.metrics.get(PREPARE_METRICS) or {}).get(
            "unlabeled_size", prepare.get("unlabeled_size")
        ),
        "test_size": evaluate.get("test_size"),
        "seeds": evaluate.get("seeds"),
        "setting": setting_digest(run.params, swept),
    }
    return setting | {"experiment": run.name, "commit": run.commit, "rev": run.rev} | values


def curve(found: Iterable[Run], x: str = "train_size", reference: str | None = None):
    """One row per finished run with intervals: its setting, name and commit, each model's test
    accuracy with its 95% interval, and each distilled student's gain over its gold-label twin
    with the paired interval; sorted by ``x`` (a key of :data:`CURVES`).

    Only runs whose params differ from the reference run's in the swept key alone are kept: the
    run named ``reference`` (an experiment name or a commit), else the setting with the most
    points (several commits of one default run are one point).
    One run per ``x``: the first in exp-show order (newest commit first, its experiments under
    it), the workspace only when nothing else has that ``x``."""
    if x not in CURVES:
        raise ValueError(f"unknown curve {x!r}")
    rows = [row for run in found if (row := _row(run, CURVES[x].swept))]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    if reference is None:
        points = frame.groupby("setting", sort=False)[x].nunique()
        setting = points.idxmax()  # ties: the first listed
    else:
        named = frame[
            (frame["experiment"] == reference) | frame["commit"].str.startswith(reference)
        ]
        if named.empty:
            raise UserError(f"no finished run with intervals is named {reference!r}")
        setting = named["setting"].iloc[0]
    frame = frame[frame["setting"] == setting]
    workspace_last = frame.sort_values(
        "experiment", key=lambda names: names == WORKSPACE, kind="stable"
    )
    frame = workspace_last.drop_duplicates(subset=[x])
    return frame.sort_values(x, kind="stable").reset_index(drop=True)


def merge(existing: pd.DataFrame, new: pd.DataFrame, x: str, source: str) -> pd.DataFrame:
    """``existing`` rows (a committed curve, read from ``source``) with ``new`` ones added; a
    new row replaces an existing one at the same ``x``, so rows from several machines and
    sessions add up. Rows of another setting, or a file of another layout, are refused; rows an
    uncommitted working tree gave are dropped (their per-text rows went with it)."""
    if list(existing.columns) != COLUMNS:
        raise UserError(
            f"{source} has other columns than this version writes: delete it, or run without "
            f"--merge"
        )
    settings = set(existing["setting"]) | set(new["setting"])
    if len(settings) > 1:
        raise UserError(
            f"{source} holds runs of another setting ({', '.join(sorted(settings))}: the params "
            f"differ in more than {x}): write another file with --out, or run without --merge"
        )
    uncommitted = existing["rev"] == WORKSPACE
    if uncommitted.any():  # its confusion rows went with the working tree: no steps from it
        logger.info(
            "%s: dropped the rows at %s %s of an uncommitted working tree: commit the run and "
            "collect it again",
            source,
            x,
            existing.loc[uncommitted, x].tolist(),
        )
    kept = existing[~existing[x].isin(new[x]) & ~uncommitted]
    merged = pd.concat([kept, new], ignore_index=True)[COLUMNS]
    return merged.sort_values(x, kind="stable").reset_index(drop=True)


def steps(
    table: pd.DataFrame,
    hits_of: Callable[[str, str], np.ndarray],
    x: str,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    """Each model's accuracy change from one point of a curve to the next, with the paired 95%
    bootstrap interval (the runs score the same test texts, in the same order).
    ``hits_of(rev, model)`` gives a run's per-text hits."""
    rows = []
    for (_, before), (_, after) in zip(table.iterrows(), table.iloc[1:].iterrows(), strict=False):
        row = {f"{x}_from": before[x], f"{x}_to": after[x]}
        for model in MODEL_NAMES:
            hits = {"before": hits_of(before["rev"], model), "after": hits_of(after["rev"], model)}
            if len(hits["before"]) != len(hits["after"]):
                raise UserError(f"runs {before['rev']} and {after['rev']} scored other test sets")
            means, samples = mean_intervals(hits, resamples, seed)
            row |= paired_difference(means, samples, "after", "before").keyed(model)
        rows.append(row)
    return pd.DataFrame(rows)
