"""Read a local (or downloaded) copy of IMDB, or other labelled texts in its shape: a folder of
parquet/CSV tables (single texts or sentence pairs, two or more classes), an extracted aclImdb/
folder or the official tarball."""

from __future__ import annotations

import logging
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pyarrow

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_path
from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.tables import PAIR

logger = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"  # the archive's published md5 (torchtext's IMDB)
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
SPLITS = ("train", "test", "unsup")
UNLABELED = -1
LABEL_NAMES = {
    "0": 0,
    "1": 1,
    "neg": 0,
    "pos": 1,
    "negative": 0,
    "positive": 1,
}


def load_raw(
    source: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    classes: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read the train/test/unsup splits from ``source`` as ``text`` (and ``text_pair``) and
    ``label`` columns, labels as class ids.

    ``source`` is a folder of parquet/CSV tables, an extracted ``aclImdb/`` folder (or its
    parent), ``aclImdb_v1.tar.gz`` or a folder holding it. A folder with none of these gets the
    official archive downloaded into it (the folder must exist, because DVC tracks it as the
    stage's dependency). A folder of tables holds ``{stem}.parquet`` or ``{stem}.csv`` per split,
    the stems given by ``files`` (split -> stem; default: the split's name), with
    ``text_column``, ``label_column`` and, for sentence pairs, ``pair_column``. Labels are the
    names in ``classes`` (or their ids); with no ``classes``, 0/1, neg/pos or negative/positive.
    Where unsup's stem is train's, no unsup table is read: the unlabelled texts are cut from
    train's (:func:`bertdistill.data.splits.make_splits`).
    """
    path = Path(source)
    if not path.exists():
        raise UserError(
            f"prepare.source {path} does not exist: point it at a local IMDB copy (parquet/CSV "
            f"folder, aclImdb/ folder or aclImdb_v1.tar.gz), or at an empty folder to download "
            f"{IMDB_URL} into it"
        )
    stems = {split: split for split in SPLITS} | (files or {})
    imdb_shaped = path.is_file() or (path / "aclImdb").is_dir() or (path / "train/pos").is_dir()
    if imdb_shaped and (pair_column is not None or classes):
        raise UserError(
            f"prepare.source {path} is an IMDB archive or aclImdb folder, which holds single "
            f"reviews of two classes: point it at a folder of parquet/CSV tables for "
            f"prepare.pair_column or prepare.classes"
        )
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise UserError(
                f"prepare.source {path} is a file but not a tar archive like {IMDB_URL}"
            )
        return _read_tarball(path)
    acl_dir = path if (path / "train" / "pos").is_dir() else path / "aclImdb"
    if (acl_dir / "train" / "pos").is_dir():
        return _read_acl_dir(acl_dir)
    archive = path / ARCHIVE_NAME
    if not archive.exists() and not _has_tables(path, stems):
        download(IMDB_URL, archive)
    if archive.is_file():
        return _read_tarball(archive)
    columns = {text_column: "text", label_column: "label"}
    if pair_column is not None:
        columns[pair_column] = PAIR
    return _read_table_dir(path, columns, classes, stems)


def _has_tables(folder: Path, stems: dict[str, str]) -> bool:
    return any(
        (folder / f"{stem}{suffix}").is_file()
        for stem in stems.values()
        for suffix in (".parquet", ".csv")
    )


def download(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically; offline, fail with one clear message."""
    logger.info("downloading %s to %s", url, destination)
    try:
        with (
            atomic_path(destination) as tmp,
            urllib.request.urlopen(url, timeout=60) as response,
            open(tmp, "wb") as out,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise UserError(
            f"could not download {url} ({error}): download it by hand to {destination}, "
            f"or set prepare.source to a local IMDB copy"
        ) from None


def _read_table_dir(
    folder: Path, columns: dict[str, str], classes: tuple[str, ...], stems: dict[str, str]
) -> dict[str, pd.DataFrame]:
    frames = {}
    for split, stem in stems.items():
        if split == "unsup" and stem == stems["train"]:
            continue  # cut from train's table
        for suffix, reader in ((".parquet", _read_parquet), (".csv", _read_csv)):
            file = folder / f"{stem}{suffix}"
            if file.is_file():
                labeled = split != "unsup"
                frames[split] = _validate_table(reader(file), columns, file, labeled, classes)
                break
    for split in ("train", "test"):
        if split not in frames:
            stem = stems[split]
            raise UserError(
                f"prepare.source {folder} has no {stem}.parquet or {stem}.csv, and is not an "
                f"aclImdb folder: point prepare.source at a folder holding them, or set "
                f"prepare.{split}_split to the stem of its {split} file"
            )
    return frames


def _read_parquet(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file)
    except (OSError, ValueError, pyarrow.ArrowException) as error:  # truncated, not parquet
        raise UserError(
            f"{file} is not a readable parquet file ({_one_line(error)}): re-copy it or export "
            f"it again"
        ) from None


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(file, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{file} is not UTF-8 ({error.reason} at byte {error.start}): re-save it as UTF-8"
        ) from None
    except (OSError, ValueError) as error:  # pandas' ParserError and EmptyDataError among them
        raise UserError(
            f"{file} is not a readable CSV file ({_one_line(error)}): re-copy it, or export it "
            f"again with fields that hold commas or line breaks quoted"
        ) from None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _validate_table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    file: Path,
    labeled: bool,
    classes: tuple[str, ...] = (),
) -> pd.DataFrame:
    """``frame`` as ``text`` (``text_pair``) and ``label`` columns; ``columns`` maps the file's
    names to those."""
    missing = [name for name in columns if name not in frame.columns]
    if missing and columns[missing[0]] == "label" and not labeled:
        frame = frame.assign(**{missing[0]: UNLABELED})
        missing = missing[1:]
    if missing:
        role = {"text": "text", "label": "label", PAIR: "pair"}[columns[missing[0]]]
        raise UserError(
            f"{file} has no '{missing[0]}' column (columns: {', '.join(map(str, frame.columns))}): "
            f"set prepare.{role}_column to the name of its {role} column"
        )
    frame = frame[list(columns)].rename(columns=columns)
    for column in ("text", PAIR):
        if column in frame and frame[column].map(lambda text: not isinstance(text, str)).any():
            frame[column] = frame[column].fillna("").astype(str)
    if labeled:
        labels = parse_labels(frame["label"], file, classes)
        _check_every_class(labels, frame["label"], file, classes)
        frame["label"] = labels
    else:
        frame["label"] = UNLABELED
    return frame.reset_index(drop=True)


def _check_every_class(
    labels: pd.Series, as_written: pd.Series, file: Path, classes: tuple[str, ...]
) -> None:
    """A labelled split missing a class passes here but breaks stratification and every metric."""
    names = classes or SENTIMENT_CLASSES
    missing = [name for index, name in enumerate(names) if not (labels == index).any()]
    if not missing:
        return
    if classes:
        raise UserError(
            f"{file} holds no {', '.join(missing)} rows: train and test need every class of "
            f"prepare.classes; export the whole split again, or list only its classes"
        )
    found = "no reviews"
    if len(labels):
        name = names[int(labels.iloc[0])]
        found = f"only {name} reviews (label {str(as_written.iloc[0])!r})"
    raise UserError(
        f"{file} holds {found}: train and test need negative and positive reviews; "
        f"export the whole split again"
    )


def parse_labels(labels: pd.Series, file: Path, classes: tuple[str, ...] = ()) -> pd.Series:
    """Map labels to class ids: with ``classes``, a class name (any case) or its id; without,
    0/1, "0"/"1", "neg"/"pos" or "negative"/"positive" to 0/1."""
    if classes:
        ids = {name.strip().lower(): index for index, name in enumerate(classes)}
        ids |= {str(index): index for index in range(len(classes))}
    else:
        ids = LABEL_NAMES
    mapped = labels.map(lambda label: ids.get(str(label).strip().lower()))
    bad = labels[mapped.isna()]
    if len(bad):
        if classes:
            raise UserError(
                f"{file} has {len(bad)} labels outside prepare.classes {list(classes)} (first: "
                f"{bad.tolist()[0]!r}): list every class there, or fix the labels"
            )
        raise UserError(
            f"{file} has {len(bad)} labels outside 0/1 (first: {bad.tolist()[0]!r}): "
            f"binary labels must be 0/1 or neg/pos, or name the classes in prepare.classes"
        )
    return mapped.astype("int64")


def _read_acl_dir(folder: Path) -> dict[str, pd.DataFrame]:
    def read(subdir: str, label: int) -> list[tuple[int, str, int]]:
        files = (folder / subdir).glob("*.txt")
        return [(_file_id(file.name), file.read_text(encoding="utf-8"), label) for file in files]

    return _acl_frames(read)


def _read_tarball(archive: Path) -> dict[str, pd.DataFrame]:
    logger.info("reading %s", archive)
    members: dict[str, list[tuple[int, str, int]]] = {}
    labels = {"pos": 1, "neg": 0, "unsup": UNLABELED}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) != 4 or not parts[3].endswith(".txt"):
                continue
            _, split, kind, name = parts
            if kind not in labels:
                continue
            text = tar.extractfile(member).read().decode("utf-8")
            members.setdefault(f"{split}/{kind}", []).append((_file_id(name), text, labels[kind]))
    return _acl_frames(lambda subdir, label: members.get(subdir, []))


def _acl_frames(read) -> dict[str, pd.DataFrame]:
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
                    f"the aclImdb copy has no {source}/{kind} reviews: re-extract the archive"
                )
            rows += found
        frames[split] = pd.DataFrame(
            [(text, label) for _, text, label in rows], columns=["text", "label"]
        )
    return frames


def _file_id(name: str) -> int:
    return int(name.split("_", 1)[0])
