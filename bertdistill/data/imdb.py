"""The official IMDB forms: the aclImdb_v1.tar.gz archive (read without extracting it), an
extracted aclImdb/ folder, and the archive's download."""

from __future__ import annotations

import logging
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pandas as pd

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_path

logger = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"  # the archive's published md5 (torchtext's IMDB)
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
# Seconds a connection may stay silent: a stalled server fails in seconds, not minutes.
DOWNLOAD_TIMEOUT_S = 15
UNLABELED = -1


def imdb_copy(path: Path) -> Path | None:
    """The archive or aclImdb folder ``path`` is or holds; None where it holds none."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train" / "pos").is_dir():
            return candidate
    if path.is_file():
        return path
    if (path / ARCHIVE_NAME).is_file():
        return path / ARCHIVE_NAME
    return None


def read_imdb(copy: Path) -> dict[str, pd.DataFrame]:
    """The train/test/unsup splits of an archive or aclImdb folder (:func:`imdb_copy`)."""
    if copy.is_dir():
        return _read_acl_dir(copy)
    return _read_tarball(copy)


def download(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically; offline or stalled, fail with one line."""
    logger.info("downloading %s to %s", url, destination)
    try:
        with (
            atomic_path(destination) as tmp,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            open(tmp, "wb") as out,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise UserError(
            f"could not download {url} ({_one_line(error)}): download it by hand to "
            f"{destination}, or set prepare.source to a local IMDB copy"
        ) from None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _read_acl_dir(folder: Path) -> dict[str, pd.DataFrame]:
    def read(subdir: str, label: int) -> list[tuple[int, str, int]]:
        files = (folder / subdir).glob("*.txt")
        return [(_file_id(file.name), file.read_text(encoding="utf-8"), label) for file in files]

    return _acl_frames(read, folder)


def _read_tarball(archive: Path) -> dict[str, pd.DataFrame]:
    logger.info("reading %s", archive)
    members: dict[str, list[tuple[int, str, int]]] = {}
    labels = {"pos": 1, "neg": 0, "unsup": UNLABELED}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 4 or not parts[3].endswith(".txt"):
                    continue
                _, split, kind, name = parts
                if kind not in labels:
                    continue
                text = tar.extractfile(member).read().decode("utf-8")
                review = (_file_id(name), text, labels[kind])
                members.setdefault(f"{split}/{kind}", []).append(review)
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as error:
        raise UserError(
            f"prepare.source {archive} is not a whole tar archive like {IMDB_URL} "
            f"({_one_line(error)}): download it again (its md5 is {IMDB_MD5})"
        ) from None
    return _acl_frames(lambda subdir, label: members.get(subdir, []), archive)


def _acl_frames(read, copy: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for split, kinds in (
        ("train", (("neg", 0), ("pos", 1))),
        ("test", (("neg", 0), ("pos", 1))),
        ("unsup", (("unsup", UNLABELED),)),
    ):
        source = "train" if split == "unsup" else split
        rows = []
        for kind, label in kinds:
            found = sorted(read(f"{source}/{kind}", label))
            if not found and label != UNLABELED:  # both classes, in train and in test
                raise UserError(
                    f"prepare.source {copy} has no aclImdb/{source}/{kind} reviews: extract or "
                    f"download the whole archive again"
                )
            rows += found
        frames[split] = pd.DataFrame(
            [(text, label) for _, text, label in rows], columns=["text", "label"]
        )
        frames[split].attrs["origin"] = str(copy)
    return frames


def _file_id(name: str) -> int:
    try:
        return int(name.split("_", 1)[0])
    except ValueError:
        raise UserError(
            f"aclImdb review file {name} is not named <id>_<rating>.txt: extract or download "
            f"the archive again"
        ) from None
