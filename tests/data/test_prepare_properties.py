"""Property tests of the prepare stage over generated sources: small tables of texts and labels
with blanks, duplicates, unicode and every label spelling. Whatever `prepare` accepts gives
disjoint, stratified, seeded splits of clean, distinct texts; whatever it refuses leaves nothing
behind and ends in exit code 2 and one line."""

from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import run_prepare

from bertdistill.data.splits import clean_text

TEXTS = ["good film", "bad film", "Café ☕", "日本の映画", "NA", "null", "ok 😀", "x", "a b c"]
BLANKS = ["", "  ", "<br />", "\t"]
SPELLINGS = {0: ["0", "neg", "Negative", "0.0", 0], 1: ["1", "pos", "POSITIVE", "1.0", 1]}

numbered = st.integers(0, 80).map(lambda index: f"review {index}")  # mostly distinct texts
text = st.one_of(numbered, numbered, numbered, st.sampled_from(TEXTS + BLANKS), st.text(max_size=8))
# Labels alternate by row (hypothesis would make nearly all 0), some flipped: conflicts.
row = st.tuples(text, st.integers(0, 9), st.integers(0, 4))
table = st.lists(row, min_size=8, max_size=50).map(
    lambda rows: [
        (text, (index + (flip == 9)) % 2, spelling)
        for index, (text, flip, spelling) in enumerate(rows)
    ]  # fmt: skip
)


def write(folder: Path, split: str, rows) -> None:
    labels = [SPELLINGS[label][spelling] for _, label, spelling in rows]
    frame = pd.DataFrame({"text": [text for text, _, _ in rows], "label": labels})
    frame.to_csv(folder / f"{split}.csv", index=False)


def pool(rows) -> dict[str, int]:
    """What the splits may draw from: each cleaned, non-blank text with its one label."""
    labels: dict[str, set[int]] = {}
    for text, label, _ in rows:
        if clean_text(text):
            labels.setdefault(clean_text(text), set()).add(label)
    return {text: found.pop() for text, found in labels.items() if len(found) == 1}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    train_rows=table,
    test_rows=table,
    sizes=st.tuples(st.integers(2, 12), st.integers(2, 6), st.none() | st.integers(2, 8)),
    unlabeled_size=st.integers(0, 6),
    drop_test_duplicates=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_prepare_accepts_only_what_it_can_split_cleanly(
    tmp_path_factory, train_rows, test_rows, sizes, unlabeled_size, drop_test_duplicates, seed
):
    folder = tmp_path_factory.mktemp("source")
    write(folder, "train", train_rows)
    write(folder, "test", test_rows)
    train_size, val_size, test_size = sizes
    prepare = {
        "train_size": train_size,
        "val_size": val_size,
        "test_size": test_size,
        "unlabeled_size": unlabeled_size,
        "unlabeled_split": "train",  # the unlabelled texts: what train and validation leave
        "drop_test_duplicates": drop_test_duplicates,
    }
    run = tmp_path_factory.mktemp("run")
    code, stderr = run_prepare(run, folder, seed=seed, **prepare)
    event("refused" if code else "accepted")
    if code != 0:
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert code == 2 and errors == [stderr.strip().splitlines()[-1]], stderr
        assert "Traceback" not in stderr and not (run / "out").exists()
        return
    splits = {name: pd.read_parquet(run / "out" / f"{name}.parquet") for name in SPLIT_NAMES}
    for name, frame in splits.items():
        assert not frame["text"].duplicated().any(), name
        assert (frame["text"].str.strip() != "").all() and frame["text"].map(clean_text).eq(
            frame["text"]
        ).all(), name
    train_pool = pool(train_rows)
    for name in ("train", "validation", "unlabeled"):
        assert set(splits[name]["text"]) <= set(train_pool), name
    for name in ("train", "validation"):
        assert splits[name]["label"].tolist() == splits[name]["text"].map(train_pool).tolist()
    assert set(splits["test"]["label"]) == {0, 1} and set(splits["unlabeled"]["label"]) <= {-1}
    used = [set(splits[name]["text"]) for name in ("train", "validation", "unlabeled")]
    assert sum(map(len, used)) == len(set().union(*used)), "a text in two splits"
    if drop_test_duplicates:
        assert set(splits["test"]["text"]).isdisjoint(set().union(*used))
    assert len(splits["train"]) == train_size and len(splits["validation"]) == val_size
    share = sum(train_pool.values()) / len(train_pool)
    assert abs(splits["train"]["label"].sum() - share * train_size) <= 1 + 1e-9
    again = tmp_path_factory.mktemp("again")
    assert run_prepare(again, folder, seed=seed, **prepare)[0] == 0
    for name in SPLIT_NAMES:
        file = f"out/{name}.parquet"
        assert (run / file).read_bytes() == (again / file).read_bytes(), name
    assert (run / "out/prepare.json").read_bytes() == (again / "out/prepare.json").read_bytes()


SPLIT_NAMES = ("train", "validation", "test", "unlabeled")
