"""Finished DVC experiments and commits as runs: their params and metrics (``dvc exp show
--json`` for the declared headline metrics, git for the full metrics files committed with each
run), and any file committed with a run, such as its per-text confusion rows."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError

logger = logging.getLogger(__name__)

EVALUATE_METRICS = "metrics/evaluate.json"
STUDENTS_METRICS = "metrics/students.json"
PREPARE_METRICS = "metrics/prepare.json"
DETAIL = (EVALUATE_METRICS, STUDENTS_METRICS, PREPARE_METRICS)  # beside the declared metrics


CONFUSION = "plots/evaluate/confusion/{model}.csv"  # one row per test text, in the same order
WORKSPACE = "workspace"  # exp show's name for the working tree's row


@dataclass(frozen=True)
class Run:
    """One finished run: its name, the commit it ran on, its own revision (an experiment's
    commit, or ``commit`` for a commit), its params and metrics files."""

    name: str
    commit: str
    params: dict
    metrics: dict[str, dict]
    rev: str = ""


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
        # An experiment queued, running or failed: a running one shows the working tree (its
        # new params, the last run's metrics) until it ends.
        if (node.get("executor") or {}).get("state") not in (None, "success"):
            return
        data = node.get("data")
        own = commit or (data or {}).get("rev") or node.get("rev") or ""
        if isinstance(data, dict) and "params" in data:
            params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
            metrics = {
                path: (found or {}).get("data") or {}
                for path, found in (data.get("metrics") or {}).items()
            }
            name = node.get("name") or node.get("rev") or "?"
            yield Run(name, own, params, metrics, data.get("rev") or node.get("rev") or "")
        if "experiments" in node:
            yield from runs(node["experiments"], own)
        if "revs" in node:
            yield from runs(node["revs"], commit)


def workspace_is_current(repo: str | Path) -> bool:
    """Whether the working tree's metrics come from its own params and code: ``dvc status``
    finds every stage up to date. Otherwise (params.yaml edited and not reproduced, or an
    experiment running in the working tree, which holds DVC's lock) exp show's workspace row
    pairs one run's params with another run's metrics."""
    try:
        result = subprocess.run(
            ["dvc", "status", "--json"], cwd=repo, capture_output=True, text=True, check=False
        )
        return result.returncode == 0 and json.loads(result.stdout or "{}") == {}
    except (OSError, ValueError):
        return False


def finished_runs(repo: str | Path) -> list[Run]:
    """The runs of ``repo``'s experiments and commits, and its working tree's when that is up
    to date (:func:`workspace_is_current`), each with its full metrics (:func:`with_detail`)."""
    found = list(runs(exp_show(repo)))
    if not workspace_is_current(repo):
        logger.info(
            "%s: the working tree is not up to date (`dvc status`): its row is left out", repo
        )
        found = [run for run in found if run.rev != WORKSPACE]
    return [with_detail(repo, run) for run in found]


def with_detail(repo: str | Path, run: Run) -> Run:
    """``run`` with the full metrics files a curve reads: ``dvc exp show`` reports the declared
    headline metrics only, so :data:`DETAIL` files are read as committed with the run. A run
    without one keeps what it has (its row is then left out of a curve)."""
    metrics = dict(run.metrics)
    for path in DETAIL:
        if path not in metrics and run.rev:
            try:
                metrics[path] = json.loads(run_file(repo, run.rev, path))
            except (UserError, ValueError):
                continue
    return dataclasses.replace(run, metrics=metrics)


def run_file(repo: str | Path, rev: str, path: str) -> str:
    """The text of ``path`` as committed with the run at git revision ``rev`` (metrics, plots
    data: every ``cache: false`` output is committed with its run); the working tree's file for
    :data:`WORKSPACE`."""
    try:
        if rev == WORKSPACE:
            return (Path(repo) / path).read_text(encoding="utf-8")
        return subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        raise UserError(f"cannot read {path} of run {rev} in {repo}: {detail}") from None


def run_predictions(repo: str | Path, rev: str, model: str) -> pd.DataFrame:
    """``model``'s confusion rows in the run at git revision ``rev``: one (actual, predicted)
    row per test text, committed with the run; the working tree's file for :data:`WORKSPACE`."""
    return pd.read_csv(io.StringIO(run_file(repo, rev, CONFUSION.format(model=model))))


def run_hits(repo: str | Path, rev: str, model: str) -> np.ndarray:
    """Which test texts ``model`` got right in the run at git revision ``rev``."""
    frame = run_predictions(repo, rev, model)
    return (frame["actual"] == frame["predicted"]).to_numpy()
