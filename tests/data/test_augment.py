import numpy as np
import pandas as pd
import pytest

from bertdistill.core.errors import UserError
from bertdistill.core.params import AugmentParams
from bertdistill.core.params_file import load_section
from bertdistill.data.augment import MAX_NGRAM, augment_reviews, student_view
from bertdistill.students.pair_features import student_text

MASK = "[MASK]"
SOURCES = [
    "a truly wonderful film with a great cast",
    "dull , slow and far too long",
    "one two three four five six seven eight nine ten eleven twelve",
]
IDS = ["r0", "r1", "r2"]


def variants(n_augment=2, p_mask=0.1, p_ng=0.25, seed=0, texts=SOURCES, ids=IDS):
    params = AugmentParams(n_augment=n_augment, p_mask=p_mask, p_ng=p_ng)
    return augment_reviews(ids, texts, params, MASK, seed)


def test_every_source_gets_n_variants_with_unique_ids():
    frame = variants(n_augment=3)
    assert list(frame.columns) == ["id", "source_id", "text"]
    assert len(frame) == 9 and frame["id"].is_unique
    assert frame["source_id"].value_counts().to_dict() == {"r0": 3, "r1": 3, "r2": 3}
    assert all(row.id.startswith(row.source_id + "-aug") for row in frame.itertuples())


def test_off_gives_an_empty_frame_with_the_same_columns():
    frame = variants(n_augment=0)
    assert frame.empty and list(frame.columns) == ["id", "source_id", "text"]


def test_same_seed_same_variants_other_seed_other_variants():
    pd.testing.assert_frame_equal(variants(seed=3), variants(seed=3))
    assert variants(seed=3)["text"].tolist() != variants(seed=4)["text"].tolist()


def test_masking_replaces_words_with_the_mask_token_at_rate_p_mask():
    long_text = " ".join(f"w{i}" for i in range(5000))
    text = variants(n_augment=1, p_mask=0.3, p_ng=0.0, texts=[long_text], ids=["x"])["text"][0]
    words, source = text.split(), long_text.split()
    assert len(words) == len(source)
    masked = np.array([word == MASK for word in words])
    kept = [word for word, hide in zip(words, masked, strict=True) if not hide]
    assert kept == [word for word, hide in zip(source, masked, strict=True) if not hide]
    assert 0.27 < masked.mean() < 0.33
    assert variants(p_mask=0.0, p_ng=0.0)["text"].tolist() == SOURCES * 2


def test_ngram_sampling_keeps_a_contiguous_window_of_one_to_five_words():
    frame = variants(n_augment=50, p_mask=0.0, p_ng=1.0)
    lengths = set()
    for row in frame.itertuples():
        words, source = row.text.split(), SOURCES[IDS.index(row.source_id)].split()
        lengths.add(len(words))
        assert any(source[i : i + len(words)] == words for i in range(len(source))), row.text
    assert lengths == set(range(1, MAX_NGRAM + 1))


def test_students_see_masked_words_as_absent():
    texts = pd.DataFrame({"text": [f"good {MASK} film", f"{MASK}"]})
    assert student_view(texts, MASK).str.split().tolist() == [["good", "film"], []]


PAIRS = [("A man sleeps in the park today .", "A man is awake ."), ("Two dogs run .", "Dogs run .")]


def test_a_pair_is_masked_on_both_sides_and_a_window_cuts_one_side_only():
    frame = variants(n_augment=40, p_mask=0.2, p_ng=1.0, texts=PAIRS, ids=["p0", "p1"])
    assert list(frame.columns) == ["id", "source_id", "text", "text_pair"]
    cut = {0: 0, 1: 0}
    for row in frame.itertuples():
        source = PAIRS[int(row.source_id[1])]
        sides = zip((row.text, row.text_pair), source, strict=True)
        shortened = 0
        for side, (variant, original) in enumerate(sides):
            words, originals = variant.split(), original.split()
            if len(words) < len(originals):  # this side was cut to a window
                cut[side] += 1
                shortened += 1
                assert any(
                    all(w in (o, MASK) for w, o in zip(words, originals[i:], strict=False))
                    for i in range(len(originals))
                )
            else:  # masked word by word only
                assert all(w in (o, MASK) for w, o in zip(words, originals, strict=True))
        assert shortened <= 1  # a window never cuts both sides of one variant
    assert cut[0] > 0 and cut[1] > 0  # each side is the cut one in some variants


def test_students_see_a_masked_pair_as_its_student_text_without_the_masks():
    frame = pd.DataFrame({"text": [f"A {MASK} sleeps"], "text_pair": [f"{MASK} man"]})
    assert student_view(frame, MASK).tolist() == [student_text(("A  sleeps", " man"))]
    assert "mask" not in student_view(frame, MASK)[0].lower()


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(n_augment=-1, p_mask=0.1, p_ng=0.1), "augment.n_augment"),
        (dict(n_augment=1, p_mask=1.5, p_ng=0.1), r"augment.p_mask' must be in \[0, 1\]"),
        (dict(n_augment=1, p_mask=0.1, p_ng=-0.1), r"augment.p_ng' must be in \[0, 1\]"),
    ],
)
def test_bad_params_are_one_clear_error(values, message):
    with pytest.raises(UserError, match=message):
        load_section({"augment": values}, "augment", AugmentParams)
