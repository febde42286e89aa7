"""Label efficiency: test accuracy of every model against the number of labelled reviews,
collected from finished DVC experiments (``dvc exp show --json``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from bertdistill.errors import UserError
from bertdistill.registry import MODEL_NAMES

EVALUATE_METRICS = "metrics/evaluate.json"
COLUMNS = ["train_size", "experiment", *MODEL_NAMES]


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


def _runs(node: object) -> Iterator[tuple[str, dict]]:
    """Every (name, data) pair in exp-show output: commits, and experiments under them."""
    if isinstance(node, list):
        for item in node:
            yield from _runs(item)
    elif isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "params" in data:
            yield node.get("name") or node.get("rev") or "?", data
        for key in ("experiments", "revs"):
            if key in node:
                yield from _runs(node[key])


def label_efficiency(exp_show_output: list) -> pd.DataFrame:
    """One row per finished run with evaluate metrics: its ``prepare.train_size``, its name and
    the test accuracy of the teacher and the six students, sorted by size. Runs with the same
    size and the same accuracies (a commit and the workspace on it) are listed once, under the
    commit's name."""
    rows = []
    for name, data in _runs(exp_show_output):
        params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
        metrics = ((data.get("metrics") or {}).get(EVALUATE_METRICS) or {}).get("data")
        train_size = (params.get("prepare") or {}).get("train_size")
        if not metrics or train_size is None:
            continue
        accuracies = [metrics.get(f"{model}_accuracy") for model in MODEL_NAMES]
        if any(accuracy is None for accuracy in accuracies):
            continue
        rows.append([train_size, name, *accuracies])
    frame = pd.DataFrame(rows, columns=COLUMNS)
    workspace_last = frame.sort_values(
        "experiment", key=lambda names: names == "workspace", kind="stable"
    )
    frame = workspace_last.drop_duplicates(subset=["train_size", *MODEL_NAMES])
    return frame.sort_values(["train_size", "experiment"], kind="stable").reset_index(drop=True)
