import io
import tarfile
import urllib.error

import pandas as pd
import pytest
from support import NLI_CLASSES, synthetic_pairs, synthetic_reviews, write_tiny_acl_archive

from bertdistill.core.errors import UserError
from bertdistill.core.params import PrepareParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.data import imdb
from bertdistill.data.sources import load_raw
from bertdistill.data.splits import clean_text, label_shares, make_splits


def test_clean_text_removes_break_tags_and_extra_space():
    assert clean_text("  Great.<br /><br />Really<br/>good<BR>fun  ") == "Great. Really good fun"
    assert clean_text("<br />") == ""


def test_parquet_folder_is_read(tiny_imdb):
    raw = load_raw(tiny_imdb)
    assert {split: len(frame) for split, frame in raw.items()} == {
        "train": 60,
        "test": 40,
        "unsup": 60,
    }
    assert set(raw["train"]["label"]) == {0, 1}
    assert set(raw["unsup"]["label"]) == {-1}


def test_csv_folder_with_string_labels_is_mapped(tmp_path):
    frame = synthetic_reviews(10, seed=0)
    frame.assign(label=frame["label"].map({0: "neg", 1: "Positive"})).to_csv(tmp_path / "train.csv")
    frame.to_csv(tmp_path / "test.csv", index=False)
    raw = load_raw(tmp_path)
    assert raw["train"]["label"].tolist() == frame["label"].tolist()
    assert "unsup" not in raw


def write_review_sentiment_csvs(folder):
    """train/test.csv shaped like the widely shared IMDB CSV: review, sentiment and word labels."""
    for split, seed in (("train", 0), ("test", 1)):
        frame = synthetic_reviews(10, seed)
        frame = frame.assign(sentiment=frame["label"].map({0: "negative", 1: "positive"}))
        frame.rename(columns={"text": "review"})[["review", "sentiment"]].to_csv(
            folder / f"{split}.csv", index=False
        )


def test_other_column_names_are_read_through_the_params(tmp_path):
    write_review_sentiment_csvs(tmp_path)
    params = load_params("params.yaml")
    params["prepare"] |= {
        "source": str(tmp_path),
        "text_column": "review",
        "label_column": "sentiment",
    }
    config = load_section(params, "prepare", PrepareParams)
    raw = load_raw(config.source, config.text_column, config.label_column)
    expected = synthetic_reviews(10, 0)
    assert list(raw["train"].columns) == ["text", "label"]
    assert raw["train"]["text"].tolist() == expected["text"].tolist()
    assert raw["train"]["label"].tolist() == expected["label"].tolist()


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({}, "no 'text' column .*set prepare.text_column to the name of its text column"),
        ({"text_column": "review"}, "no 'label' column .*set prepare.label_column"),
        ({"text_column": "Review", "label_column": "sentiment"}, "no 'Review' column"),
    ],
)
def test_a_missing_column_names_the_param_to_set(tmp_path, columns, message):
    write_review_sentiment_csvs(tmp_path)
    with pytest.raises(UserError, match=message) as raised:
        load_raw(tmp_path, **columns)
    assert "train.csv" in str(raised.value) and "review, sentiment" in str(raised.value)


def _acl_files(root):
    files = {}
    for split in ("train", "test"):
        for kind, word in (("pos", "great"), ("neg", "awful")):
            for index in range(3):
                files[f"aclImdb/{split}/{kind}/{index}_{7 if kind == 'pos' else 2}.txt"] = (
                    f"{split} {word} review {index}"
                )
    files["aclImdb/train/unsup/0_0.txt"] = "unlabelled review"
    return files


def test_aclimdb_folder_and_tarball_read_the_same(tmp_path):
    tar_path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, text in _acl_files(tmp_path).items():
            payload = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
    from_dir, from_tar = load_raw(tmp_path), load_raw(tar_path)
    for split in ("train", "test", "unsup"):
        pd.testing.assert_frame_equal(from_dir[split], from_tar[split])
    assert from_dir["train"]["label"].tolist() == [0, 0, 0, 1, 1, 1]
    assert from_dir["train"]["text"].iloc[0] == "train awful review 0"
    assert load_raw(tmp_path / "aclImdb")["test"].shape == (6, 2)


def test_the_archive_is_read_under_any_file_name(tmp_path):
    """`make data` fetches the official archive as data/imdb, a file with no .tar.gz suffix."""
    reviews = write_tiny_acl_archive(tmp_path / "imdb")
    raw = load_raw(tmp_path / "imdb")
    for split, frame in reviews.items():
        rows = sorted(zip(frame["text"], frame["label"], strict=True))
        assert sorted(zip(raw[split]["text"], raw[split]["label"], strict=True)) == rows, split


def test_an_empty_folder_gets_the_archive_downloaded(tmp_path, monkeypatch):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, text in _acl_files(tmp_path).items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return io.BytesIO(archive.getvalue())

    monkeypatch.setattr(imdb.urllib.request, "urlopen", fake_urlopen)
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    raw = load_raw(raw_dir)
    assert requested == [imdb.IMDB_URL]
    assert (raw_dir / "aclImdb_v1.tar.gz").is_file()
    assert len(raw["train"]) == 6 and len(raw["unsup"]) == 1
    load_raw(raw_dir)
    assert len(requested) == 1, "a downloaded archive is reused"


def test_offline_download_fails_clearly_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(imdb.urllib.request, "urlopen", offline)
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "README.md").write_text("put IMDB here")
    with pytest.raises(UserError, match="could not download .*set prepare.source"):
        load_raw(raw_dir)
    assert sorted(path.name for path in raw_dir.iterdir()) == ["README.md"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"review": ["a"], "label": [1]}), "no 'text' column"),
        (pd.DataFrame({"text": ["a"], "sentiment": [1]}), "no 'label' column"),
        (pd.DataFrame({"text": ["a", "b"], "label": [1, 3]}), "labels outside 0/1"),
        (pd.DataFrame({"text": ["a", "b"], "label": ["pos", "meh"]}), "first: 'meh'"),
    ],
)
def test_bad_tables_name_the_file(tmp_path, frame, message):
    frame.to_parquet(tmp_path / "train.parquet")
    synthetic_reviews(4, 0).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(UserError, match=message) as raised:
        load_raw(tmp_path)
    assert "train.parquet" in str(raised.value)


@pytest.mark.parametrize(
    ("split", "labels", "message"),
    [
        ("train", ["pos", "Positive", "1", "pos"], "holds only positive reviews"),
        ("test", [0, 0, 0, 0], "holds only negative reviews"),
        ("test", [], "holds no rows"),
    ],
)
def test_a_labelled_split_of_one_class_is_refused(tmp_path, split, labels, message):
    for name in ("train", "test"):
        frame = synthetic_reviews(4, 0)
        if name == split:
            frame = pd.DataFrame({"text": [f"review {i}" for i in labels], "label": labels})
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    raw = load_raw(tmp_path)
    with pytest.raises(UserError, match=message) as raised:
        make_splits(raw, 2, 2, None, 0, seed=0)
    assert str(tmp_path / f"{split}.csv") in str(raised.value)
    assert "export the whole split again" in str(raised.value)


def test_an_aclimdb_copy_missing_a_class_is_refused(tmp_path):
    for name, text in _acl_files(tmp_path).items():
        if not name.startswith("aclImdb/test/neg/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match="no aclImdb/test/neg reviews: extract or download"):
        load_raw(tmp_path)


def test_non_utf8_csv_and_missing_paths(tmp_path):
    (tmp_path / "train.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    synthetic_reviews(4, 0).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(UserError, match="not UTF-8"):
        load_raw(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        load_raw(tmp_path / "nowhere")
    only_test = tmp_path / "only_test"
    only_test.mkdir()
    synthetic_reviews(4, 0).to_parquet(only_test / "test.parquet")
    with pytest.raises(UserError, match="has no train.parquet or train.csv"):
        load_raw(only_test)


def _truncate(file):
    """Keep the first half of ``file``'s bytes, as an interrupted copy does."""
    content = file.read_bytes()
    file.write_bytes(content[: len(content) // 2])


@pytest.mark.parametrize("split", ["train", "test", "unsup"])
def test_a_truncated_parquet_file_is_one_error_naming_it(tmp_path, tiny_imdb, split):
    for file in tiny_imdb.iterdir():
        (tmp_path / file.name).write_bytes(file.read_bytes())
    _truncate(tmp_path / f"{split}.parquet")
    with pytest.raises(UserError, match="is not a readable parquet file") as raised:
        load_raw(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / f"{split}.parquet") in message and "re-copy it" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "content",
    [
        'text,label\n"a review that never ends,1\n',  # an unbalanced quote
        "text,label\na fine review,1\nanother, with a comma,0\n",  # a row with three fields
        "",  # an empty file
    ],
)
def test_a_csv_pandas_cannot_parse_is_one_error_naming_it(tmp_path, content):
    (tmp_path / "train.csv").write_text(content)
    synthetic_reviews(4, 0).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(UserError, match="is not a readable CSV file") as raised:
        load_raw(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "train.csv") in message and "export it again" in message
    assert "\n" not in message


def test_splits_are_stratified_disjoint_and_seeded(tiny_imdb):
    raw = load_raw(tiny_imdb)
    splits = make_splits(raw, 20, 10, 20, 30, seed=7)
    sizes = {name: len(frame) for name, frame in splits.items()}
    assert sizes == {"train": 20, "validation": 10, "test": 20, "unlabeled": 30}
    assert splits.train["label"].mean() == 0.5
    assert splits.validation["label"].mean() == 0.5
    assert set(splits.train["id"]).isdisjoint(splits.validation["id"])
    assert all(splits.train["id"].str.startswith("train-"))
    assert all(splits.validation["id"].str.startswith("train-"))
    assert all(splits.test["id"].str.startswith("test-"))
    assert set(splits.unlabeled["label"]) == {-1}
    assert not splits.train["text"].str.contains("<br").any()
    again = make_splits(raw, 20, 10, 20, 30, seed=7)
    other = make_splits(raw, 20, 10, 20, 30, seed=8)
    pd.testing.assert_frame_equal(splits.train, again.train)
    assert splits.train["id"].tolist() != other.train["id"].tolist()
    assert len(make_splits(raw, 20, 10, None, 0, seed=7).test) == 40


def test_unlabeled_size_null_takes_the_whole_pool_and_leaves_the_other_splits_alone(
    tiny_imdb, tmp_path
):
    raw = load_raw(tiny_imdb)
    raw["unsup"].loc[0, "text"] = raw["unsup"]["text"][1]  # a repeat, kept once
    raw["unsup"].loc[2, "text"] = raw["train"]["text"][5]  # a labelled review, left out
    every = make_splits(raw, 20, 10, None, None, seed=7)
    assert len(every.unlabeled) == 60 - 2
    assert every.unlabeled["id"].is_unique and set(every.unlabeled["label"]) == {-1}
    assert not every.unlabeled["text"].isin(set(raw["train"]["text"])).any()
    some = make_splits(raw, 20, 10, 20, 30, seed=7)
    assert set(some.unlabeled["id"]) < set(every.unlabeled["id"])
    for name in ("train", "validation"):
        pd.testing.assert_frame_equal(getattr(some, name), getattr(every, name))
    pairs = load_pairs(write_tiny_snli(tmp_path / "snli"))
    rest = make_splits(
        pairs, 30, 15, None, None, seed=0, unlabeled_from_train=True, classes=NLI_CLASSES
    )
    assert len(rest.unlabeled) == 90 - 30 - 15


def test_sizes_larger_than_the_data_name_the_param(tiny_imdb):
    raw = load_raw(tiny_imdb)
    with pytest.raises(UserError, match="prepare.train_size \\+ prepare.val_size"):
        make_splits(raw, 50, 20, 10, 10, seed=0)
    with pytest.raises(UserError, match="prepare.unlabeled_size"):
        make_splits(raw, 10, 10, 10, 1000, seed=0)


def test_test_texts_repeating_training_texts_are_counted_and_optionally_left_out(tiny_imdb):
    raw = load_raw(tiny_imdb)
    train_texts = raw["train"]["text"].tolist()
    # Four test reviews copy a train review (one with different spacing, equal after cleaning),
    # one copies an unsup review, and two are empty.
    raw["test"].loc[:2, "text"] = train_texts[:3]
    raw["test"].loc[3, "text"] = "  " + train_texts[3].replace(" ", "   ") + " <br />"
    raw["test"].loc[4, "text"] = raw["unsup"]["text"][1]
    raw["test"].loc[5:6, "text"] = ["", "  <br /> "]
    kept = make_splits(raw, 20, 10, None, 30, seed=7)
    assert kept.report["test_pool_duplicates"] == 5
    assert kept.report["test_dropped_short"] == 2 and kept.report["train_dropped_short"] == 0
    assert len(kept.test) == 40 - 2
    # The copies' sources are rows 0-3 of train and row 1 of unsup (ids number a pool's rows);
    # those the seed put in a split are the duplicates of used texts. With seed 7 some copies
    # are in train, validation and unlabeled, and some in no split, so each case counts.
    copied = {f"train-{index:06d}" for index in range(4)} | {"unsup-000001"}
    used = set(kept.train["id"]) | set(kept.validation["id"]) | set(kept.unlabeled["id"])
    for split in (kept.train, kept.validation, kept.unlabeled):
        assert copied & set(split["id"])
    assert len(copied & used) < 5
    assert kept.report["test_duplicates_of_used_texts"] == len(copied & used)
    dropped = make_splits(raw, 20, 10, None, 30, seed=7, drop_test_duplicates=True)
    assert len(dropped.test) == 40 - 2 - 5
    assert dropped.report["test_duplicates_of_used_texts"] == 0
    assert not dropped.test["text"].isin(set(raw["train"]["text"])).any()
    pd.testing.assert_frame_equal(kept.train, dropped.train)


PAIR_FILES = {"train": "dev", "test": "test", "unsup": "dev"}


def write_tiny_snli(folder):
    """dev and test tables shaped like ../shared/data/snli: premise, hypothesis, label names."""
    folder.mkdir(parents=True, exist_ok=True)
    synthetic_pairs(90, seed=1).assign(split="dev").to_parquet(folder / "dev.parquet")
    synthetic_pairs(30, seed=2).assign(split="test").to_parquet(folder / "test.parquet")
    return folder


def load_pairs(folder):
    return load_raw(folder, "premise", "label", "hypothesis", NLI_CLASSES, PAIR_FILES)


def test_sentence_pairs_of_three_classes_are_read_with_their_class_ids(tmp_path):
    raw = load_pairs(write_tiny_snli(tmp_path))
    assert set(raw) == {"train", "test"}  # the unlabelled pairs are cut from dev's
    dev = synthetic_pairs(90, seed=1)
    assert list(raw["train"].columns) == ["text", "label", "text_pair"]
    assert raw["train"]["text"].tolist() == dev["premise"].tolist()
    assert raw["train"]["text_pair"].tolist() == dev["hypothesis"].tolist()
    expected = dev["label"].map({name: index for index, name in enumerate(NLI_CLASSES)})
    assert raw["train"]["label"].tolist() == expected.tolist()
    # ids are labels too, and names in any case
    relabelled = dev.assign(label=dev["label"].str.upper().where(dev.index % 2 == 0, expected))
    (tmp_path / "dev.parquet").unlink()
    relabelled.to_csv(tmp_path / "dev.csv", index=False)
    assert load_pairs(tmp_path)["train"]["label"].tolist() == expected.tolist()


def test_pairs_cut_disjoint_stratified_splits_with_the_unlabelled_from_the_labelled_pool(tmp_path):
    raw = load_pairs(write_tiny_snli(tmp_path))
    splits = make_splits(raw, 30, 15, None, 40, seed=3, unlabeled_from_train=True)
    ids = {name: set(frame["id"]) for name, frame in splits.items()}
    assert {name: len(frame) for name, frame in splits.items()} == {
        "train": 30, "validation": 15, "test": 30, "unlabeled": 40,
    }  # fmt: skip
    assert all(frame_ids <= {f"train-{i:06d}" for i in range(90)}
               for name, frame_ids in ids.items() if name != "test")  # fmt: skip
    assert ids["train"].isdisjoint(ids["validation"]) and ids["train"].isdisjoint(ids["unlabeled"])
    assert ids["validation"].isdisjoint(ids["unlabeled"])
    assert splits.train["label"].value_counts().tolist() == [10, 10, 10]
    assert set(splits.unlabeled["label"]) == {-1}
    assert list(splits.train.columns) == ["id", "text", "text_pair", "label"]
    with pytest.raises(
        UserError, match="prepare.unlabeled_size.*what train and validation leave of"
    ):
        make_splits(raw, 30, 15, None, 46, seed=3, unlabeled_from_train=True)
    assert label_shares(splits.train, NLI_CLASSES) == {
        "share_entailment": 0.333333, "share_neutral": 0.333333, "share_contradiction": 0.333333,
    }  # fmt: skip
    assert label_shares(splits.train.assign(label=[0, 1] * 15), ()) == {"positive_share": 0.5}


def test_a_pair_with_an_empty_text_is_dropped_and_duplicates_count_both_texts(tmp_path):
    folder = write_tiny_snli(tmp_path)
    dev = pd.read_parquet(folder / "dev.parquet")
    test = pd.read_parquet(folder / "test.parquet")
    test.loc[0, ["premise", "hypothesis"]] = dev.loc[0, ["premise", "hypothesis"]].tolist()
    # the same premise with another hypothesis is another pair
    test.loc[1, "premise"] = dev.loc[4, "premise"]
    test.loc[2, "hypothesis"] = " <br /> "
    test.to_parquet(folder / "test.parquet")
    splits = make_splits(load_pairs(folder), 30, 15, None, 40, seed=3, unlabeled_from_train=True)
    assert splits.report["test_dropped_short"] == 1
    assert splits.report["test_pool_duplicates"] == 1


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["entailment", "maybe", "neutral"], "1 labels outside prepare.classes"),
        (["entailment", "neutral", "neutral"], "holds no rows of class 'contradiction'"),
    ],
)
def test_labels_outside_the_classes_or_a_missing_class_name_the_file(tmp_path, labels, message):
    folder = write_tiny_snli(tmp_path)
    frame = pd.DataFrame({"premise": ["a b", "c d", "e f"], "hypothesis": "a", "label": labels})
    frame.to_parquet(folder / "test.parquet")
    with pytest.raises(UserError, match=message) as raised:
        make_splits(load_pairs(folder), 3, 3, None, 0, seed=0, classes=NLI_CLASSES)
    assert str(folder / "test.parquet") in str(raised.value)


def test_a_missing_pair_column_names_the_param(tmp_path):
    folder = write_tiny_snli(tmp_path)
    with pytest.raises(UserError, match="no 'premise2' column.*prepare.pair_column"):
        load_raw(folder, "premise", "label", "premise2", NLI_CLASSES, PAIR_FILES)
    with pytest.raises(UserError, match="no train.parquet or train.csv.*prepare.train_split"):
        load_raw(folder, "premise", "label", "hypothesis", NLI_CLASSES)


def test_an_imdb_archive_refuses_pairs_and_classes(tmp_path):
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    with pytest.raises(UserError, match="aclImdb folder, which holds single reviews"):
        load_raw(tmp_path, classes=NLI_CLASSES)
