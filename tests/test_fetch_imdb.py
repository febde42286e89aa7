"""`make data` in a clone without ../shared/data/imdb: the official archive enters through DVC
(tools/fetch_imdb.py), checked against its md5, and `prepare` reads it; offline, one line and exit
code 2 within seconds. The archive is a tiny aclImdb-shaped one served from 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import ROOT, copy_project, write_tiny_acl_archive

from bertdistill.data.imdb import IMDB_MD5, IMDB_URL
from bertdistill.data.splits import clean_text

ARCHIVE = "aclImdb_v1.tar.gz"
TINY_PREPARE = {"train_size": 24, "val_size": 16, "test_size": 20, "unlabeled_size": 40}
# What a clone's own run writes; data/imdb.dvc stays as committed: it names ../shared/data/imdb
CLONE_SKIPS = ("metrics/", "plots/", "dvc.lock")
UNREACHABLE_SECONDS = 15  # the fetch's 10 s for an answer, and the start of make, Python and DVC


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1, in a thread; yields its base URL."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A port on 127.0.0.1 that takes connections (the kernel completes them) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/{ARCHIVE}"


@contextmanager
def closed_port() -> Iterator[str]:
    """A port on 127.0.0.1 that nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}/{ARCHIVE}"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """A folder holding a tiny aclImdb_v1.tar.gz, and its reviews by split."""
    folder = tmp_path_factory.mktemp("served")
    return folder, write_tiny_acl_archive(folder / ARCHIVE)


@pytest.fixture
def clone(tmp_path) -> Path:
    """The project as a public clone has it: data/imdb.dvc names ../shared/data/imdb, which is
    not beside it, and DVC's cache is empty; tiny split sizes."""
    folder = copy_project(tmp_path / "clone", skip=CLONE_SKIPS)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"] |= TINY_PREPARE
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    assert not (folder.parent / "shared").exists()
    return folder


def command(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``args`` with this Python's environment first on PATH and this checkout's package."""
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def make_data(clone: Path, url: str, md5: str) -> subprocess.CompletedProcess:
    """`make data` with this Python's environment as the Makefile's VENV, taken as installed
    (`-o`: never re-installed), and the archive's address and md5 set as a user would."""
    venv = Path(sys.prefix)
    args = [f"VENV={venv}", f"IMDB_URL={url}", f"IMDB_MD5={md5}"]
    return command("make", "-o", f"{venv}/.installed", "data", *args, cwd=clone)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the fetch printed on stderr: make's own `make: *** ...` line left out."""
    return [line for line in result.stderr.splitlines() if not line.startswith("make")]


@pytest.mark.slow
def test_make_data_fetches_the_archive_through_dvc_and_prepare_reads_it(clone, served):
    folder, reviews = served
    archive = (folder / ARCHIVE).read_bytes()
    md5 = hashlib.md5(archive).hexdigest()
    with serving(folder) as base:
        url = f"{base}/{ARCHIVE}"
        result = make_data(clone, url, md5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (clone / "data/imdb").read_bytes() == archive
    record = yaml.safe_load((clone / "data/imdb.dvc").read_text())
    assert record["deps"][0]["path"] == url
    assert record["outs"][0]["md5"] == md5
    repro = command("dvc", "repro", "prepare", cwd=clone)
    assert repro.returncode == 0, repro.stdout + repro.stderr
    prepared = clone / "data/prepared"
    for split, source, size in (
        ("train", "train", "train_size"),
        ("validation", "train", "val_size"),
        ("test", "test", "test_size"),
        ("unlabeled", "unsup", "unlabeled_size"),
    ):
        frame = pd.read_parquet(prepared / f"{split}.parquet")
        archived = dict(
            zip(reviews[source]["text"].map(clean_text), reviews[source]["label"], strict=True)
        )
        assert len(frame) == TINY_PREPARE[size], split
        assert all(
            archived.get(text) == label
            for text, label in zip(frame["text"], frame["label"], strict=True)
        ), split

    (clone / "data/imdb").unlink()  # a re-run comes from DVC's cache: no server needed
    with closed_port() as offline:
        again = make_data(clone, offline, md5)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (clone / "data/imdb").read_bytes() == archive


@pytest.mark.slow
@pytest.mark.parametrize("unreachable", [closed_port, silent_server])
def test_an_unreachable_server_fails_in_seconds_with_one_line(clone, unreachable):
    committed = (clone / "data/imdb.dvc").read_bytes()
    with unreachable() as url:
        started = time.monotonic()
        result = make_data(clone, url, IMDB_MD5)
        seconds = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert seconds < UNREACHABLE_SECONDS
    [line] = error_lines(result)
    assert line.startswith(f"error: {url} cannot be reached")
    assert "dvc import-url --force /path/to/imdb data/imdb" in line and "docs/data.md" in line
    assert (clone / "data/imdb.dvc").read_bytes() == committed
    assert not (clone / "data/imdb").exists()


@pytest.mark.slow
def test_an_archive_of_another_md5_is_refused_and_removed(clone, served):
    folder, _ = served
    committed = (clone / "data/imdb.dvc").read_bytes()
    fetched = hashlib.md5((folder / ARCHIVE).read_bytes()).hexdigest()
    with serving(folder) as base:
        result = make_data(clone, f"{base}/{ARCHIVE}", IMDB_MD5)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = [line for line in error_lines(result) if line.startswith("error:")]
    assert f"md5 {fetched}, not the published {IMDB_MD5}" in line
    assert (clone / "data/imdb.dvc").read_bytes() == committed
    assert not (clone / "data/imdb").exists()
    assert not (clone / ".dvc/cache/files/md5" / fetched[:2] / fetched[2:]).exists()


def test_the_makefiles_archive_is_the_packages():
    """One archive: the Makefile's defaults are the address and md5 that sources.py holds."""
    makefile = (ROOT / "Makefile").read_text().splitlines()
    defaults = dict(line.split(" ?= ") for line in makefile if line.startswith("IMDB_"))
    assert defaults == {"IMDB_URL": IMDB_URL, "IMDB_MD5": IMDB_MD5}
