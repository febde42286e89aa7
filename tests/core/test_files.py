"""Atomic writes: under a real kill the old output or none, never a partial one; a path pointed
at the wrong kind of thing is one clear error that deletes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import ROOT, default_sigint

from bertdistill.core.errors import UserError
from bertdistill.core.files import (
    atomic_folder,
    read_json,
    write_json,
    write_json_folder,
    write_text,
)

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


def test_a_file_writer_pointed_at_a_folder_refuses_and_deletes_nothing(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "other_stage.json").write_text("{}")
    with pytest.raises(UserError, match=f"^{folder} is a folder, but this output is a file"):
        write_json(folder, {"accuracy": 1.0})
    assert [path.name for path in tmp_path.iterdir()] == ["metrics"]
    assert (folder / "other_stage.json").read_text() == "{}"


def test_a_folder_writer_pointed_at_a_file_refuses_and_deletes_nothing(tmp_path):
    target = tmp_path / "accuracy"
    target.write_text("kept")
    with pytest.raises(UserError, match=f"^{target} is a file, but this output is a folder"):
        write_json_folder(target, {"teacher": {"accuracy": 1.0}})
    assert target.read_text() == "kept"
    assert [path.name for path in tmp_path.iterdir()] == ["accuracy"]


def test_a_folder_writer_replaces_its_previous_folder_whole(tmp_path):
    target = tmp_path / "accuracy"
    write_json_folder(target, {"teacher": {"accuracy": 0.5}, "dropped_model": {"accuracy": 0.1}})
    write_json_folder(target, {"teacher": {"accuracy": 0.9}})
    assert sorted(path.name for path in target.iterdir()) == ["teacher.json"]
    assert read_json(target / "teacher.json") == {"accuracy": 0.9}
    assert [path.name for path in tmp_path.iterdir()] == ["accuracy"]  # nothing set aside left


def test_a_folder_writer_that_fails_leaves_the_previous_folder(tmp_path):
    target = tmp_path / "model"
    write_json_folder(target, {"weights": [1]})
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "weights.json").write_text("half")
        raise RuntimeError("the writer failed")
    assert read_json(target / "weights.json") == [1]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize(
    ("failure", "raised", "message"),
    [
        (
            PermissionError(13, "Permission denied"),
            UserError,
            "^cannot write .*: Permission denied",
        ),
        (KeyboardInterrupt(), KeyboardInterrupt, None),  # Ctrl-C between the two renames
    ],
    ids=["error", "ctrl-c"],
)
def test_a_folder_writer_stopped_between_its_renames_puts_the_previous_folder_back(
    tmp_path, monkeypatch, failure, raised, message
):
    target = tmp_path / "model"
    write_json_folder(target, {"weights": [1]})
    real_replace = os.replace

    def replace(source, destination):  # the rename of the new folder in fails
        if Path(source).name == target.name and Path(destination) == target:
            raise failure
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(raised, match=message):
        write_json_folder(target, {"weights": [2]})
    monkeypatch.undo()
    assert read_json(target / "weights.json") == [1]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_a_folder_output_holding_the_working_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.txt").write_text("kept")
    for path in (".", str(tmp_path.parent)):
        with pytest.raises(UserError, match="holds the working folder"):
            write_json_folder(path, {"a": 1})
    assert (tmp_path / "kept.txt").read_text() == "kept"


@pytest.mark.parametrize("writer", [write_text, write_json_folder], ids=["file", "folder"])
def test_a_path_under_a_file_is_one_error_naming_the_file(tmp_path, writer):
    (tmp_path / "metrics.json").write_text("{}")
    for path in (tmp_path / "metrics.json/out.json", tmp_path / "metrics.json/a/b/out.json"):
        with pytest.raises(UserError) as error:
            writer(path, {})
        assert str(error.value) == (
            f"cannot write {path}: {tmp_path / 'metrics.json'} is a file, not a folder: "
            f"pass a path inside a folder"
        )
    assert (tmp_path / "metrics.json").read_text() == "{}"


@pytest.mark.parametrize("writer", [write_text, write_json_folder], ids=["file", "folder"])
def test_a_path_in_a_read_only_folder_is_one_error(tmp_path, writer):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user may write to any folder (root)")
        with pytest.raises(UserError, match=f"^cannot write {folder / 'out'}: Permission denied"):
            writer(folder / "out", {})
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_a_folder_output_named_like_the_set_aside_copy_is_replaced(tmp_path):
    for name in ("previous", "model.previous"):
        write_json_folder(tmp_path / name, {"old": 1})
        write_json_folder(tmp_path / name, {"new": 2})
        assert [path.name for path in (tmp_path / name).iterdir()] == ["new.json"]
