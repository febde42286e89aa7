"""A stage of the tiny run killed with SIGKILL while it writes its outputs, then `dvc repro`:
nothing half-written is taken as an output, and the re-run writes the same bytes as the
uninterrupted run."""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from support import output_hashes, ran_stages, run, run_json, tool_env

pytestmark = pytest.mark.slow

# Loaded through PYTHONPATH by every Python program of the run (DVC's and the stage's): holds
# each rename out of an atomic_path temporary sibling (`.<name>.<8 chars>.tmp/<name>`) for a
# moment, so that the test sees the sibling with its bytes in it and kills there, every time.
# The stage runs its own code; only that rename comes later.
SLOW_RENAME = textwrap.dedent(
    """
    import os, re, time
    rename = os.replace
    TEMP_SIBLING = re.compile(r"/\\.(?P<name>[^/]+)\\.\\w{8}\\.tmp/(?P=name)$")

    def slow_rename(source, destination, *args, **kwargs):
        if TEMP_SIBLING.search(os.fspath(source)):
            time.sleep(float(os.environ["RENAME_DELAY_SECONDS"]))
        return rename(source, destination, *args, **kwargs)

    os.replace = slow_rename
    """
)
DEADLINE_SECONDS = 300


def workspace_hashes(folder: Path) -> dict[str, str]:
    """The MD5 of every file of every output in dvc.lock, by path; timing files left out (they
    hold wall times and differ run to run)."""
    hashes = {}
    for path in output_hashes(folder):
        files = [folder / path] if (folder / path).is_file() else (folder / path).rglob("*")
        for file in files:
            if file.is_file():
                hashes[str(file.relative_to(folder))] = hashlib.md5(file.read_bytes()).hexdigest()
    return hashes


def temp_siblings(folder: Path) -> list[str]:
    """atomic_path's temporary siblings in the workspace (DVC's and git's folders aside)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob(".*.tmp")
        if path.relative_to(folder).parts[0] not in (".dvc", ".git")
    )


def kill_while_writing(repo: Path, stage: str, output: str, hook: Path) -> Path:
    """Run `dvc repro --force` of ``stage`` in a process group of its own, SIGKILL the group the
    moment the temporary sibling of ``output`` holds its bytes, and return that sibling."""
    env = tool_env() | {
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "RENAME_DELAY_SECONDS": "3",
    }
    command = ["dvc", "repro", "--force", "--single-item", stage]
    dvc = subprocess.Popen(
        command,
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    target = repo / output
    deadline = time.monotonic() + DEADLINE_SECONDS
    written = []
    while not written and dvc.poll() is None and time.monotonic() < deadline:
        siblings = target.parent.glob(f".{glob.escape(target.name)}.*.tmp")
        written = [sibling for sibling in siblings if (sibling / target.name).exists()]
        time.sleep(0.02)
    os.killpg(dvc.pid, signal.SIGKILL)
    assert dvc.wait(timeout=30) == -signal.SIGKILL, "the run ended before the kill"
    assert written, f"no temporary sibling of {output} held its bytes"
    while time.monotonic() < deadline:  # the stage, DVC's child, dies with the group
        try:
            os.killpg(dvc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"a process of `{' '.join(command)}` outlived SIGKILL")
    return written[0]


@pytest.mark.parametrize(
    ("stage", "output"),
    [
        # train.parquet written, validation.parquet being written
        ("prepare", "data/prepared/validation.parquet"),
        # the logits of two splits written, the third being written
        ("label_with_teacher", "data/logits/test.parquet"),
        # the folder of students in place, a model card being written inside it
        ("distill_students", "models/students/lr_baseline.md"),
    ],
)
def test_a_stage_killed_mid_write_is_rerun_to_the_same_bytes(repo, tmp_path, stage, output):
    uninterrupted, locked = workspace_hashes(repo), output_hashes(repo)
    lock = (repo / "dvc.lock").read_text()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_RENAME)

    leftover = kill_while_writing(repo, stage, output, hook)

    assert not (repo / output).exists(), f"{output} was complete before the kill"
    assert (repo / "dvc.lock").read_text() == lock  # DVC recorded nothing of the killed run
    status = run_json("dvc", "status", "--json", cwd=repo)
    changed = {path for entry in status[stage] for path in entry.get("changed outs", {})}
    assert {output, str(Path(output).parent)} & changed, status[stage]

    printed = run("dvc", "repro", cwd=repo)
    assert ran_stages(printed) == [stage]  # its outputs came back the same: nothing after it ran
    assert "skipping run" not in printed  # run again, not restored from DVC's run cache
    assert not leftover.exists() and temp_siblings(repo) == []
    assert workspace_hashes(repo) == uninterrupted
    assert output_hashes(repo) == locked
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)
