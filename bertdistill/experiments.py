"""Curves over finished DVC experiments (``dvc exp show --json``): test accuracy of every model,
with its 95% interval, against the number of labelled reviews (``prepare.train_size``) or of
unlabelled reviews the students learnt from (``distill_students`` metrics' ``unlabeled_size``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bertdistill.errors import UserError
from bertdistill.registry import KINDS, MODEL_NAMES

EVALUATE_METRICS = "metrics/evaluate.json"
STUDENTS_METRICS = "metrics/students.json"
CURVES = ("train_size", "unlabeled_size")  # what a curve's x axis counts
SETTING = ["train_size", "unlabeled_size", "test_size", "seeds"]
ACCURACY_COLUMNS = [
    f"{model}{suffix}" for model in MODEL_NAMES for suffix in ("", "_ci_low", "_ci_high")
]
GAIN_COLUMNS = [f"{kind}_gain{suffix}" for kind in KINDS for suffix in ("", "_ci_low", "_ci_high")]
COLUMNS = [*SETTING, "experiment", "commit", *ACCURACY_COLUMNS, *GAIN_COLUMNS]


@dataclass(frozen=True)
class Run:
    """One finished run: its name, the commit it ran on, its params and metrics files."""

    name: str
    commit: str
    params: dict
    metrics: dict[str, dict]


def exp_show(repo: str | Path) -> list:
    """The experiments of ``repo`` as ``dvc exp show --json`` reports them."""
    try:
        result = subprocess.run(
            ["dvc", "exp", "show", "--json", "--all-commits"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        raise UserError(f"`dvc exp show --json` failed in {repo}: {detail}") from None
    return json.loads(result.stdout)


def runs(node: object, commit: str = "") -> Iterator[Run]:
    """Every run in exp-show output: commits, and the experiments under them (whose commit is
    the one they were run on)."""
    if isinstance(node, list):
        for item in node:
            yield from runs(item, commit)
    elif isinstance(node, dict):
        data = node.get("data")
        own = commit or (data or {}).get("rev") or node.get("rev") or ""
        if isinstance(data, dict) and "params" in data:
            params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
            metrics = {
                path: (found or {}).get("data") or {}
                for path, found in (data.get("metrics") or {}).items()
            }
            name = node.get("name") or node.get("rev") or "?"
            yield Run(name, own, params, metrics)
        if "experiments" in node:
            yield from runs(node["experiments"], own)
        if "revs" in node:
            yield from runs(node["revs"], commit)


def curve(found: list[Run] | Iterator[Run], x: str = "train_size") -> pd.DataFrame:
    """One row per finished run with evaluate metrics: its setting, name and commit, each model's
    test accuracy with its 95% interval, and each distilled student's gain over its gold-label
    twin with the paired interval; sorted by ``x`` (one of :data:`CURVES`). One run per ``x``:
    the first in exp-show order (newest commit first, its experiments under it), the workspace
    only when nothing else has that ``x``."""
    if x not in CURVES:
        raise ValueError(f"unknown curve {x!r}")
    rows = []
    for run in found:
        evaluate, students = run.metrics.get(EVALUATE_METRICS), run.metrics.get(STUDENTS_METRICS)
        train_size = (run.params.get("prepare") or {}).get("train_size")
        if not evaluate or not students or train_size is None:
            continue
        values = {
            f"{model}{suffix}": evaluate.get(f"{model}_accuracy{suffix}")
            for model in MODEL_NAMES
            for suffix in ("", "_ci_low", "_ci_high")
        }
        for kind in KINDS:
            key = f"{kind}_distilled_vs_{kind}_baseline_accuracy_diff"
            values |= {
                f"{kind}_gain{suffix}": evaluate.get(f"{key}{suffix}")
                for suffix in ("", "_ci_low", "_ci_high")
            }
        if any(value is None for value in values.values()):
            continue
        setting = {
            "train_size": train_size,
            "unlabeled_size": students.get("unlabeled_size"),
            "test_size": evaluate.get("test_size"),
            "seeds": evaluate.get("seeds"),
        }
        rows.append(setting | {"experiment": run.name, "commit": run.commit} | values)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    workspace_last = frame.sort_values(
        "experiment", key=lambda names: names == "workspace", kind="stable"
    )
    frame = workspace_last.drop_duplicates(subset=[x])
    return frame.sort_values(x, kind="stable").reset_index(drop=True)


def merge(existing: pd.DataFrame, new: pd.DataFrame, x: str) -> pd.DataFrame:
    """``existing`` rows (a committed curve) with ``new`` ones added; a new row replaces an
    existing one at the same ``x``, so rows from several machines and sessions accumulate."""
    kept = existing[~existing[x].isin(new[x])]
    merged = pd.concat([kept, new], ignore_index=True)[COLUMNS]
    return merged.sort_values(x, kind="stable").reset_index(drop=True)
