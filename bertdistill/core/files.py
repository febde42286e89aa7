"""Atomic writes of every output the stages write, and reading JSON back.

A writer says what it writes: :func:`atomic_path` a file, :func:`atomic_folder` a folder. A file
writer never replaces a folder and a folder writer never replaces a file, so a path pointed at
the wrong thing (``--metrics metrics/``) is one clear error and nothing is deleted.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from bertdistill.core.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of file ``path``; rename it onto ``path`` only if the block
    succeeds: a killed or failed writer leaves the old file or none, never a half-written one.
    An existing folder at ``path`` is refused, never replaced."""
    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, but this output is a file: pass a file's path "
            f"(the folder is left as it is)"
        )
    with _sibling(path) as tmp:
        yield tmp / path.name
        _replace(tmp / path.name, path, path)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a new empty temporary folder beside folder ``path``; it becomes ``path`` only if
    the block succeeds. The previous folder (this output's own last version) is renamed aside,
    the new one renamed in, and only then is the old one deleted: an interruption leaves one
    of them whole. An existing file at ``path`` is refused, never replaced."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{path} is a file, but this output is a folder: pass a folder's path "
            f"(the file is left as it is)"
        )
    if Path.cwd().resolve().is_relative_to(path.resolve()):
        raise UserError(f"{path} holds the working folder, so it cannot be an output: pass another")
    with _sibling(path) as tmp:
        (tmp / path.name).mkdir()
        yield tmp / path.name
        previous = tmp / f"{path.name}.previous"  # deleted with the temporary folder
        try:
            if _exists(path):
                _replace(path, previous, path)
            _replace(tmp / path.name, path, path)
        except BaseException:  # Ctrl-C included: between the renames, put the old one back
            if _exists(previous) and not _exists(path):
                os.replace(previous, path)
            raise


@contextlib.contextmanager
def _sibling(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path``, deleted afterwards with whatever is left in it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(
            f"cannot write {path}: {_file_ancestor(path)} is a file, not a folder: "
            f"pass a path inside a folder"
        ) from None
    except OSError as error:
        raise UserError(f"cannot write {path}: {_reason(error)}") from None
    # A writer killed with SIGKILL cannot clean up: its temporary sibling goes on the next write.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        raise UserError(f"cannot write {path}: {_reason(error)}") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(source: Path, destination: Path, output: Path) -> None:
    """``os.replace``; an OS error is one line naming the ``output`` being written."""
    try:
        os.replace(source, destination)
    except OSError as error:
        raise UserError(f"cannot write {output}: {_reason(error)}") from None


def _exists(path: Path) -> bool:
    return path.is_symlink() or path.exists()  # a dangling link too


def _file_ancestor(path: Path) -> Path:
    """The path above ``path`` that exists but is not a folder, so no folder can be made there."""
    existing = (parent for parent in reversed(path.parents) if parent.exists())
    return next((parent for parent in existing if not parent.is_dir()), path.parent)


def _reason(error: OSError) -> str:
    """An OS error in words, with what to do about the common ones."""
    where = f" ({error.filename})" if error.filename else ""
    fix = {
        errno.EACCES: ": make it writable or pass another path",
        errno.EROFS: ": pass a path on a writable disk",
    }
    return f"{error.strerror or error}{where}{fix.get(error.errno, '')}"


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: object) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_json_folder(path: str | Path, files: dict[str, object]) -> None:
    """A folder of JSON files, ``<name>.json`` per entry of ``files``, written as one: the old
    folder stays whole until the new one is complete."""
    with atomic_folder(path) as tmp:
        for name, data in files.items():
            write_json(tmp / f"{name}.json", data)


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
