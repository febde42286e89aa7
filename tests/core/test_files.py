"""Atomic writes under a real kill: the old output or none, never a partial one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from support import ROOT, default_sigint

from bertdistill.core.files import write_text

# Writes half of a new version inside atomic_path, says so, then waits to be killed.
WRITER = textwrap.dedent(
    """
    import sys, time
    from bertdistill.core.files import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_text("half of the new")
        print("writing", flush=True)
        time.sleep(60)
        tmp.write_text("the whole new version")
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_writer_killed_mid_write_leaves_the_old_output(tmp_path, sig):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=default_sigint,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(sig)
    assert writer.wait(timeout=30) != 0
    assert target.read_text() == "old"
    leftovers = list(tmp_path.glob(".metrics.json.*.tmp"))
    assert len(leftovers) == (1 if sig == signal.SIGKILL else 0)  # SIGKILL skips clean-up
    write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]


def test_a_writer_killed_before_any_output_leaves_none(tmp_path):
    target = tmp_path / "model"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGINT)
    writer.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []
