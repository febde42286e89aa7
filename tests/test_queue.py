"""Two experiments queued with different student settings and run at once by DVC's queue (local
workers, no network): each ends with its own params and the results a plain run of its
settings gives."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support import run, run_json, tool_env

pytestmark = pytest.mark.slow

KEY = "distill_students.lr_C"
VALUES = {"lr-c-small": 0.01, "lr-c-one": 1.0}  # a grid of one C each: the one chosen
DEADLINE_SECONDS = 420


def queue_statuses(repo: Path) -> dict[str, str]:
    """Each queued experiment's status (Queued, Running, Success, Failed) by name, as
    `dvc queue status` prints it."""
    rows = [line.split() for line in run("dvc", "queue", "status", cwd=repo).splitlines()]
    return {row[1]: row[-1] for row in rows if len(row) > 2 and row[1] in VALUES}


def wait_for_queue(repo: Path) -> tuple[dict[str, str], int]:
    """The statuses once every experiment has ended, and the most that ran at one time."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    most_running = 0
    while time.monotonic() < deadline:
        statuses = queue_statuses(repo)
        most_running = max(most_running, list(statuses.values()).count("Running"))
        if len(statuses) == len(VALUES) and set(statuses.values()) <= {"Success", "Failed"}:
            break
        time.sleep(3)
    return statuses, most_running


def stage_outputs(repo: Path, rev: str, stage: str) -> dict[str, str]:
    """The hashes of ``stage``'s outputs in ``rev``'s dvc.lock, its timing file left out."""
    lock = yaml.safe_load(run("git", "show", f"{rev}:dvc.lock", cwd=repo))
    outs = lock["stages"][stage]["outs"]
    return {out["path"]: out["md5"] for out in outs if "timings/" not in out["path"]}


def experiments(repo: Path) -> dict[str, dict]:
    """`dvc exp show`'s row of each experiment, by name."""
    shown = run_json("dvc", "exp", "show", "--json", cwd=repo)
    return {exp["name"]: exp["revs"][0] for row in shown for exp in row.get("experiments") or []}


def test_two_queued_experiments_run_at_once_each_with_its_own_results(repo, tmp_path):
    for name, value in VALUES.items():
        run("dvc", "exp", "run", "--queue", "-n", name, "-S", f"{KEY}={value}", cwd=repo)
    # Into a file, not a pipe: the workers `dvc queue start` leaves running inherit its output,
    # and reading a pipe to its end would wait for them to finish
    with open(tmp_path / "queue.log", "w") as log:
        command = ["dvc", "queue", "start", "-j", "2"]
        subprocess.run(command, cwd=repo, env=tool_env(), stdout=log, stderr=log, check=True)
    try:
        statuses, most_running = wait_for_queue(repo)
    finally:
        run("dvc", "queue", "stop", "--kill", cwd=repo)
    assert statuses == dict.fromkeys(VALUES, "Success")
    assert most_running == 2

    queued = experiments(repo)
    for name, value in VALUES.items():
        params = queued[name]["data"]["params"]["params.yaml"]["data"]
        assert params["distill_students"]["lr_C"] == value
        shown = run("git", "show", f"{queued[name]['rev']}:metrics/students.json", cwd=repo)
        students = json.loads(shown)
        assert students["lr_baseline_C"] == value
        assert "metrics/accuracy/lr.json" in queued[name]["data"]["metrics"]
    small, one = (stage_outputs(repo, queued[name]["rev"], "distill_students") for name in VALUES)
    assert small["models/students"] != one["models/students"]

    name, value = next(iter(VALUES.items()))  # the same settings run plainly
    setting = f"{KEY}={value}"
    printed = run("dvc", "exp", "run", "-n", "plain", "-S", setting, "distill_students", cwd=repo)
    assert "skipping run" not in printed  # fitted again, not restored from DVC's run cache
    plain = stage_outputs(repo, experiments(repo)["plain"]["rev"], "distill_students")
    assert plain == small
