"""Read labelled texts for ``prepare``: a folder of parquet/CSV tables (single texts or sentence
pairs, two or more classes), or IMDB in its official forms (:mod:`bertdistill.data.imdb`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from bertdistill.core.errors import UserError
from bertdistill.core.tables import PAIR
from bertdistill.data.imdb import ARCHIVE_NAME, IMDB_URL, UNLABELED, download, imdb_copy, read_imdb

logger = logging.getLogger(__name__)

SPLITS = ("train", "test", "unsup")
SUFFIXES = (".parquet", ".csv")
LABEL_NAMES = {
    "0": 0,
    "1": 1,
    "neg": 0,
    "pos": 1,
    "negative": 0,
    "positive": 1,
}
# Which params describe IMDB: only then is an IMDB archive or aclImdb folder read, or downloaded.
IMDB_TASK = "the IMDB task (prepare.dataset IMDB, no prepare.pair_column or prepare.classes)"


def load_raw(
    source: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    classes: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
    dataset: str = "IMDB",
) -> dict[str, pd.DataFrame]:
    """Read the train/test/unsup splits from ``source`` as ``text`` (and ``text_pair``) and
    ``label`` columns, labels as class ids; each frame's ``attrs["origin"]`` names its file.

    ``source`` is a folder of parquet/CSV tables, or IMDB: an extracted ``aclImdb/`` folder (or
    its parent), ``aclImdb_v1.tar.gz`` or a folder holding it. A folder of tables holds
    ``{stem}.parquet`` or ``{stem}.csv`` per split, the stems given by ``files`` (split -> stem;
    default: the split's name), with ``text_column``, ``label_column`` and, for sentence pairs,
    ``pair_column``. Labels are the names in ``classes`` (or their ids, where no name is a
    number); with no ``classes``, 0/1, neg/pos or negative/positive. Where unsup's stem is
    train's, no unsup table is read: the unlabelled texts are cut from train's
    (:func:`bertdistill.data.splits.make_splits`).

    IMDB is read only for the two-class single-text task (no ``pair_column``, no ``classes``),
    and the official archive is downloaded only into a folder holding no table at all, for that
    task with ``dataset`` IMDB (the folder must exist, because DVC tracks it as the stage's
    dependency).
    """
    path = Path(source)
    if not path.exists():
        raise UserError(
            f"prepare.source {path} does not exist: point it at a local IMDB copy (parquet/CSV "
            f"folder, aclImdb/ folder or aclImdb_v1.tar.gz), or at an empty folder to download "
            f"{IMDB_URL} into it"
        )
    if path.is_file() and path.suffix in SUFFIXES:
        raise UserError(
            f"prepare.source {path} is one table: point it at the folder holding the train and "
            f"test tables"
        )
    stems = {split: split for split in SPLITS} | (files or {})
    imdb_task = pair_column is None and not classes
    copy = imdb_copy(path)
    tables = _named_tables(path, stems) if path.is_dir() else {}
    if copy is not None and not imdb_task and not tables:
        raise UserError(
            f"prepare.source {copy} is an IMDB archive or aclImdb folder, which holds single "
            f"reviews of two classes: point it at a folder of parquet/CSV tables for "
            f"prepare.pair_column or prepare.classes"
        )
    if copy is not None and imdb_task:
        if tables:
            raise UserError(
                f"prepare.source {path} holds both {copy.name} and {tables['train'].name}: "
                f"remove one of them, or point prepare.source at a folder holding the other"
            )
        return read_imdb(copy)
    if set(tables) >= {"train", "test"}:
        columns = {text_column: "text", label_column: "label"}
        if pair_column is not None:
            columns[pair_column] = PAIR
        return _read_table_dir(tables, columns, classes)
    others = sorted(file.name for suffix in SUFFIXES for file in path.glob(f"*{suffix}"))
    if tables or others or not imdb_task or dataset.lower() != "imdb":
        split = "train" if "train" not in tables else "test"
        stem = stems[split]
        holds = f"it holds {', '.join(others[:6])}" if others else "it holds no table"
        hint = "" if others else f"; IMDB is downloaded only for {IMDB_TASK}"
        raise UserError(
            f"prepare.source {path} has no {stem}.parquet or {stem}.csv ({holds}{hint}): point "
            f"prepare.source at a folder holding them, or set prepare.{split}_split to the stem "
            f"of its {split} file"
        )
    archive = path / ARCHIVE_NAME
    download(IMDB_URL, archive)
    return read_imdb(archive)


def _named_tables(folder: Path, stems: dict[str, str]) -> dict[str, Path]:
    """The table file of each split that has one; a split with both a parquet and a CSV file is
    refused, since which of them is current is the user's to say."""
    tables = {}
    for split, stem in stems.items():
        if split == "unsup" and stem == stems["train"]:
            continue  # cut from train's table
        found = [folder / f"{stem}{suffix}" for suffix in SUFFIXES]
        found = [file for file in found if file.is_file()]
        if len(found) > 1:
            raise UserError(
                f"prepare.source {folder} holds both {found[0].name} and {found[1].name}: "
                f"remove or rename the one that is not the {split} split"
            )
        if found:
            tables[split] = found[0]
    return tables


def _read_table_dir(
    tables: dict[str, Path], columns: dict[str, str], classes: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    frames = {}
    for split, file in tables.items():
        reader = _read_parquet if file.suffix == ".parquet" else _read_csv
        table = reader(file)
        if split == "train":
            _warn_single_text_classes(table, columns, classes, file)
        frames[split] = _validate_table(table, columns, file, split != "unsup", classes)
        frames[split].attrs["origin"] = str(file)
    return frames


def _warn_single_text_classes(
    table: pd.DataFrame, columns: dict[str, str], classes: tuple[str, ...], file: Path
) -> None:
    """Classes without a pair column is a single-text task of several classes, which is fine,
    but also what forgetting prepare.pair_column for sentence pairs looks like."""
    if not classes or PAIR in columns.values():
        return
    others = [
        str(name)
        for name in table.columns
        if name not in columns and not is_numeric_dtype(table[name])
    ]
    also = f" ({file.name} also holds {', '.join(others)})" if others else ""
    logger.warning(
        "prepare.classes is set and prepare.pair_column is not: each row is classified from its "
        "'%s' column alone%s; set prepare.pair_column for sentence pairs",
        next(iter(columns)),
        also,
    )


def _read_parquet(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file)
    except (OSError, ValueError, pyarrow.ArrowException) as error:  # truncated, not parquet
        raise UserError(
            f"{file} is not a readable parquet file ({_one_line(error)}): re-copy it or export "
            f"it again"
        ) from None


def _read_csv(file: Path) -> pd.DataFrame:
    _check_separator(file)
    try:
        # Only an empty field is missing: a review reading "NA" or "null" is a text.
        return pd.read_csv(file, encoding="utf-8", keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as error:
        raise UserError(
            f"{file} is not UTF-8 ({error.reason} at byte {error.start}): re-save it as UTF-8"
        ) from None
    except (OSError, ValueError) as error:  # pandas' ParserError and EmptyDataError among them
        raise UserError(
            f"{file} is not a readable CSV file ({_one_line(error)}): re-copy it, or export it "
            f"again with fields that hold commas or line breaks quoted"
        ) from None


def _check_separator(file: Path) -> None:
    """A header with no comma holds one column, never a text and a label: name the separator."""
    with open(file, encoding="utf-8", errors="replace") as lines:
        header = lines.readline()
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if "," not in header and separator in header:
            raise UserError(
                f"{file} is separated by {name}, not commas (header: {header.strip()!r}): "
                f"save it as comma-separated CSV"
            )


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
    names to those. Whether each split still holds every class once blank texts and duplicates
    are gone is checked later, in :mod:`bertdistill.data.checks`."""
    missing = [name for name in columns if name not in frame.columns]
    if missing and columns[missing[0]] == "label" and not labeled:
        frame = frame.assign(**{missing[0]: UNLABELED})
        missing = missing[1:]
    roles = {"text": "text", "label": "label", PAIR: "pair"}
    if missing:
        role = roles[columns[missing[0]]]
        raise UserError(
            f"{file} has no '{missing[0]}' column (columns: {', '.join(map(str, frame.columns))}): "
            f"set prepare.{role}_column to the name of its {role} column"
        )
    for name, column in columns.items():
        values = frame[name].dropna()  # an all-empty CSV column reads as numbers too
        if (
            column != "label"
            and len(values)
            and (is_numeric_dtype(values) or is_bool_dtype(values))
        ):
            raise UserError(
                f"{file}'s column '{name}' holds numbers (first: {values.tolist()[0]!r}), not "
                f"texts: set prepare.{roles[column]}_column to its column of texts"
            )
    frame = frame[list(columns)].rename(columns=columns)
    for column in ("text", PAIR):
        if column in frame and frame[column].map(lambda text: not isinstance(text, str)).any():
            frame[column] = frame[column].astype(object).fillna("").astype(str)
    frame["label"] = parse_labels(frame["label"], file, classes) if labeled else UNLABELED
    return frame.reset_index(drop=True)


def parse_labels(labels: pd.Series, file: Path, classes: tuple[str, ...] = ()) -> pd.Series:
    """Map labels to class ids: with ``classes``, a class name (any case) or, where no name is a
    number, its id; without, 0/1, "0"/"1", "neg"/"pos" or "negative"/"positive" to 0/1. An
    integral number is read as that integer (1.0 is 1)."""
    spelled = labels.map(_spelling)
    empty = spelled == ""
    if empty.any():
        raise UserError(
            f"{file} has {int(empty.sum())} rows with no label (first: row "
            f"{int(empty.to_numpy().argmax()) + 1}): fill in their labels or remove those rows"
        )
    mapped = spelled.map(_label_ids(classes).get)
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


def _label_ids(classes: tuple[str, ...]) -> dict[str, int]:
    if not classes:
        return LABEL_NAMES
    ids = {_spelling(name): index for index, name in enumerate(classes)}
    if not any(_is_number(name) for name in ids):  # names that are numbers would clash with ids
        ids |= {str(index): index for index in range(len(classes))}
    return ids


def _spelling(label: object) -> str:
    """A label as matched: stripped, lower case, an integral number as its integer ("1.0": "1");
    a missing label as ""."""
    if pd.isna(label):
        return ""
    text = str(label).strip().lower()
    if _is_number(text) and float(text).is_integer():
        return str(int(float(text)))
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
