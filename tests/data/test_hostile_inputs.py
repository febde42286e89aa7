"""Inputs a careless user gives `prepare`: each ends in exit code 2 and one line naming the file
or params key and the fix, with nothing written; or, where the input is fine, in splits that are
what the user meant."""

import json
import logging
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from support import (
    NLI_CLASSES,
    run_prepare,
    synthetic_pairs,
    synthetic_reviews,
    write_tiny_acl_archive,
    write_tiny_imdb,
)

from bertdistill.core.errors import UserError
from bertdistill.data import imdb
from bertdistill.data.sources import load_raw
from bertdistill.data.splits import make_splits

SMALL = {"train_size": 8, "val_size": 4, "test_size": 6, "unlabeled_size": 0}
PAIRS = {"text_column": "premise", "pair_column": "hypothesis", "classes": list(NLI_CLASSES)}


def refused(tmp_path, source, *parts, **prepare) -> str:
    """Run prepare on ``source``; assert one error line holding ``parts`` and no output."""
    code, stderr = run_prepare(tmp_path / "run", source, **(SMALL | prepare))
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert code == 2, stderr
    assert len(errors) == 1 and errors[0] == stderr.strip().splitlines()[-1], stderr
    assert all(part in errors[0] for part in parts), errors[0]
    assert not (tmp_path / "run" / "out").exists()
    return errors[0]


def accepted(tmp_path, source, **prepare) -> dict:
    code, stderr = run_prepare(tmp_path / "run", source, **(SMALL | prepare))
    assert code == 0, stderr
    return json.loads((tmp_path / "run" / "out" / "prepare.json").read_text())


def reviews_folder(tmp_path, name="src", suffix=".csv", **frames) -> Path:
    """A folder of train/test tables (20 synthetic reviews each, or the frames given)."""
    folder = tmp_path / name
    folder.mkdir()
    for split, seed in (("train", 0), ("test", 1)):
        frame = frames.get(split, synthetic_reviews(20, seed))
        if suffix == ".csv":
            frame.to_csv(folder / f"{split}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{split}.parquet")
    return folder


def no_download(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("prepare downloaded the IMDB archive")

    monkeypatch.setattr(imdb.urllib.request, "urlopen", fail)


# Another dataset silently used


def test_a_folder_holding_the_imdb_archive_is_refused_for_a_pair_task(tmp_path):
    folder = tmp_path / "snli"
    folder.mkdir()
    write_tiny_acl_archive(folder / "aclImdb_v1.tar.gz")
    refused(tmp_path, folder, "aclImdb_v1.tar.gz", "single reviews of two classes", **PAIRS)


@pytest.mark.parametrize("task", [{}, PAIRS])
def test_misnamed_tables_name_the_files_looked_for_and_download_nothing(
    tmp_path, monkeypatch, task
):
    no_download(monkeypatch)
    folder = tmp_path / "snli"
    folder.mkdir()
    synthetic_pairs(30, 1).to_csv(folder / "snli_dev.csv", index=False)
    synthetic_pairs(30, 2).to_csv(folder / "snli_test.csv", index=False)
    refused(
        tmp_path, folder, "no train.parquet or train.csv", "snli_dev.csv", "train_split", **task
    )


@pytest.mark.parametrize("task", [PAIRS, {"dataset": "Yelp"}])
def test_an_empty_folder_gets_imdb_only_for_the_imdb_task(tmp_path, monkeypatch, task):
    no_download(monkeypatch)
    folder = tmp_path / "empty"
    folder.mkdir()
    refused(tmp_path, folder, "holds no table", "IMDB is downloaded only for the IMDB task", **task)


def test_a_table_given_as_the_source_is_refused(tmp_path):
    folder = reviews_folder(tmp_path)
    refused(tmp_path, folder / "train.csv", "is one table", "folder holding")


# Checks in the wrong order or missing


def test_a_split_whose_negatives_are_all_blank_is_refused(tmp_path):
    train = synthetic_reviews(20, 0)
    train.loc[train["label"] == 0, "text"] = [" <br /> ", ""] * 5
    folder = reviews_folder(tmp_path, train=train)
    refused(tmp_path, folder, "train.csv holds only positive reviews", "10 blank")


def test_duplicates_in_the_labelled_pool_are_removed_and_counted(tmp_path):
    train = synthetic_reviews(40, 0)
    copies = train.iloc[:6].copy()
    copies.loc[[4, 5], "label"] = 1 - copies.loc[[4, 5], "label"]  # two texts get both labels
    copies["text"] = "  " + copies["text"] + " "  # the same texts once cleaned
    raw = {"train": pd.concat([train, copies]), "test": synthetic_reviews(20, 1)}
    splits = make_splits(raw, 16, 12, None, 0, seed=0)
    assert splits.report["train_dropped_duplicates"] == 4
    assert splits.report["train_dropped_conflicting"] == 4
    texts = pd.concat([splits.train["text"], splits.validation["text"]])
    assert not texts.duplicated().any()
    assert not texts.isin(set(train["text"].iloc[4:6].str.replace("<br /><br />", " "))).any()


# Half-written outputs and tracebacks


def test_an_all_blank_test_split_is_refused_before_anything_is_written(tmp_path):
    test = synthetic_reviews(20, 1).assign(text="  ")
    folder = reviews_folder(tmp_path, test=test)
    refused(
        tmp_path, folder, "test.csv has no text left of its 20 rows", "20 blank", test_size=None
    )


def test_a_test_split_left_empty_by_drop_test_duplicates_is_refused(tmp_path):
    folder = reviews_folder(tmp_path, test=synthetic_reviews(20, 0))
    refused(
        tmp_path, folder, "test.csv", "prepare.drop_test_duplicates", test_size=None,
        drop_test_duplicates=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "parts"),
    [
        ({"train_size": 2}, ("'prepare.train_size' is 2, fewer than the 3 classes",)),
        ({"test_size": 2}, ("'prepare.test_size' is 2",)),
        ({"train_size": 50, "val_size": 2}, ("'prepare.val_size' is 2",)),
        ({"test_size": 29}, ("'prepare.test_size' is 29 and leaves 1", "at most 27")),
    ],
)
def test_sizes_a_stratified_cut_cannot_take_are_refused(tmp_path, sizes, parts):
    folder = tmp_path / "pairs"
    folder.mkdir()
    synthetic_pairs(60, 1).to_parquet(folder / "train.parquet")
    synthetic_pairs(30, 2).to_parquet(folder / "test.parquet")
    refused(tmp_path, folder, *parts, **(PAIRS | sizes))


def test_a_truncated_or_damaged_archive_is_refused(tmp_path):
    archive = tmp_path / "imdb.tar.gz"
    write_tiny_acl_archive(archive)
    content = archive.read_bytes()
    archive.write_bytes(content[: len(content) // 2])
    refused(tmp_path, archive, "imdb.tar.gz is not a whole tar archive", "download it again")
    archive.write_bytes(b"<html>proxy login</html>")
    refused(tmp_path, archive, "imdb.tar.gz is not a whole tar archive")


def test_an_uncompressed_archive_is_read(tmp_path):
    packed = tmp_path / "imdb.tar.gz"
    write_tiny_acl_archive(packed)
    with tarfile.open(packed) as source, tarfile.open(tmp_path / "imdb.tar", "w") as plain:
        for member in source:
            plain.addfile(member, source.extractfile(member))
    assert len(load_raw(tmp_path / "imdb.tar")["train"]) == 60


# Silent choices


def test_a_split_in_both_parquet_and_csv_is_refused(tmp_path):
    folder = reviews_folder(tmp_path)
    synthetic_reviews(20, 0).to_parquet(folder / "train.parquet")
    refused(tmp_path, folder, "holds both train.parquet and train.csv", "remove or rename")


def test_a_numeric_text_column_is_refused(tmp_path):
    train = synthetic_reviews(20, 0).assign(stars=lambda frame: frame["label"] * 9 + 1)
    folder = reviews_folder(tmp_path, train=train, test=train)
    refused(
        tmp_path, folder, "column 'stars' holds numbers", "prepare.text_column", text_column="stars"
    )


def test_classes_without_a_pair_column_warn_which_column_is_read(tmp_path, caplog):
    folder = tmp_path / "pairs"
    folder.mkdir()
    synthetic_pairs(60, 1).to_parquet(folder / "train.parquet")
    synthetic_pairs(30, 2).to_parquet(folder / "test.parquet")
    with caplog.at_level(logging.WARNING):
        load_raw(folder, "premise", classes=NLI_CLASSES)
    warning = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warning) == 1 and "prepare.pair_column" in warning[0], warning
    assert "'premise' column alone" in warning[0] and "also holds hypothesis" in warning[0]


# Messages that mislead


def test_class_names_that_are_numbers_are_names_not_ids(tmp_path):
    stars = ("1", "2", "3")
    train = pd.DataFrame({"text": [f"review {i}" for i in range(9)], "label": [1, 2, 3] * 3})
    raw = load_raw(reviews_folder(tmp_path, train=train, test=train), classes=stars)
    assert raw["train"]["label"].tolist() == [0, 1, 2] * 3
    missing = train.assign(label=[1, 2, 2] * 3)
    raw = load_raw(reviews_folder(tmp_path, "missing", train=missing, test=train), classes=stars)
    with pytest.raises(UserError, match="holds no rows of class '3'"):
        make_splits(raw, 3, 3, None, 0, seed=0, classes=stars)


def test_a_missing_unsup_table_is_named_not_a_size_to_lower(tmp_path):
    folder = reviews_folder(tmp_path)
    refused(tmp_path, folder, "no unlabelled table beside", "unlabeled_size to 0", unlabeled_size=5)
    refused(tmp_path, folder, "is null (the whole pool) but there is no", unlabeled_size=None)


def test_integral_float_labels_are_read(tmp_path):
    train = synthetic_reviews(20, 0).assign(label=lambda frame: frame["label"].astype(float))
    metrics = accepted(tmp_path, reviews_folder(tmp_path, suffix=".parquet", train=train))
    assert metrics["train_positive_share"] == 0.5


def test_a_csv_of_texts_reading_na_keeps_them(tmp_path):
    train = synthetic_reviews(20, 0)
    train.loc[0, "text"] = "NA"  # a review of two letters, not a missing one
    metrics = accepted(tmp_path, reviews_folder(tmp_path, train=train))
    assert metrics["train_dropped_short"] == 0


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_separated_by_semicolons_or_tabs_says_so(tmp_path, separator, name):
    folder = reviews_folder(tmp_path)
    synthetic_reviews(20, 0).to_csv(folder / "train.csv", sep=separator, index=False)
    refused(tmp_path, folder, "train.csv is separated by " + name, "comma-separated")


def test_a_missing_label_is_named(tmp_path):
    train = synthetic_reviews(20, 0).astype({"label": object})
    train.loc[3, "label"] = None
    refused(tmp_path, reviews_folder(tmp_path, train=train), "1 rows with no label (first: row 4)")


def test_the_download_gives_up_on_a_silent_server_within_15_seconds(tmp_path, monkeypatch):
    timeouts = []

    def stalled(url, timeout):
        timeouts.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(imdb.urllib.request, "urlopen", stalled)
    folder = tmp_path / "raw"
    folder.mkdir()
    refused(tmp_path, folder, "could not download", "(timed out)")
    assert timeouts and all(timeout <= 15 for timeout in timeouts)


def test_the_default_parquet_folder_is_still_read(tmp_path):
    source = write_tiny_imdb(tmp_path / "imdb")
    metrics = accepted(tmp_path, source, unlabeled_size=10)
    assert metrics["train_dropped_duplicates"] == 0 and metrics["unsup_dropped_labelled"] == 0
