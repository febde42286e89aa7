"""Property tests: text cleaning, truncation and splitting hold for any input hypothesis finds."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bertdistill.data.splits import clean_text, make_splits
from bertdistill.teacher.model import truncate_ids


@given(st.text())
def test_clean_text_is_idempotent_and_has_no_break_tags(text):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert "<br />" not in cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


@given(
    ids=st.lists(st.integers(0, 1000), max_size=300),
    budget=st.integers(1, 200),
    truncation=st.sampled_from(["head", "tail", "head_tail"]),
    head_tokens=st.integers(0, 200),
)
def test_truncation_never_exceeds_the_budget_and_keeps_the_ends(
    ids, budget, truncation, head_tokens
):
    kept = truncate_ids(ids, budget, truncation, head_tokens)
    assert len(kept) == min(len(ids), budget)
    if len(ids) <= budget:
        assert kept == ids
        return
    head = min(head_tokens, budget) if truncation == "head_tail" else budget
    if truncation in ("head", "head_tail") and head:
        assert kept[:head] == ids[:head]
    if truncation == "tail" or (truncation == "head_tail" and head < budget):
        assert kept[-1] == ids[-1]


@settings(max_examples=30, deadline=None)
@given(
    negatives=st.integers(4, 40),
    positives=st.integers(4, 40),
    train_share=st.floats(0.1, 0.5),
    seed=st.integers(0, 2**16),
)
def test_splits_are_stratified_disjoint_and_seeded(negatives, positives, train_share, seed):
    labels = [0] * negatives + [1] * positives
    texts = [f"review number {index}" for index in range(len(labels))]
    raw = {
        "train": pd.DataFrame({"text": texts, "label": labels}),
        "test": pd.DataFrame({"text": texts, "label": labels}),
        "unsup": pd.DataFrame({"text": [f"unlabelled {text}" for text in texts], "label": -1}),
    }
    train_size = max(2, int(train_share * len(labels)))
    val_size = max(2, int(0.25 * len(labels)))
    splits = make_splits(raw, train_size, val_size, None, 3, seed)
    again = make_splits(raw, train_size, val_size, None, 3, seed)
    assert splits.train["id"].tolist() == again.train["id"].tolist()
    assert len(splits.train) == train_size and len(splits.validation) == val_size
    assert set(splits.train["id"]).isdisjoint(splits.validation["id"])
    share = positives / len(labels)
    for split in (splits.train, splits.validation):
        assert abs(split["label"].mean() - share) <= 1 / len(split) + 1e-9
