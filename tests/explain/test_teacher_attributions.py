import dataclasses

import pytest
import torch
from support import tiny_teacher

from bertdistill.core.errors import UserError
from bertdistill.core.params import InferenceParams
from bertdistill.explain.attributions import (
    Attribution,
    completeness_gap,
    review_words,
    without_words,
)
from bertdistill.explain.teacher_attributions import (
    guided_occlusion,
    integrated_gradients,
    measured_first,
    occlusion,
    piece_words,
    position_words,
    word_sums,
)
from bertdistill.teacher.inference import Teacher
from bertdistill.teacher.model import BertClassifier, EncodingSpec

BATCHING = InferenceParams(batch_tokens=256, max_batch_size=8, precision="fp32")
TEXT = "Great movie, the acting was awful! The plot was great."


# 6 wordpieces fit: "great acting ," from the head, "worst movie ." from the tail.
LONG_TEXT = "Great acting, the plot was dull and it was the worst movie."
SEEN = {"great", "acting", "worst", "movie"}
SHORT_SPEC = EncodingSpec(max_len=8, truncation="head_tail", head_tokens=3, pooling="mean")


@pytest.fixture(scope="module")
def teacher(tiny_bert) -> Teacher:
    return tiny_teacher(tiny_bert)


def test_integrated_gradients_add_up_to_the_labelled_logit_minus_the_baseline(teacher):
    attribution = integrated_gradients(teacher, TEXT, steps=50, batch_tokens=25 * 16)
    labelled = teacher.logits([TEXT], BATCHING, progress=False)[0]
    assert attribution.output == pytest.approx(labelled, abs=1e-4)
    assert attribution.absent != 0.0  # ",", "!" and "." carry something, kept apart
    assert abs(completeness_gap(attribution)) < 0.02 * abs(attribution.output - attribution.bias)


def test_every_word_is_a_key_and_words_truncated_away_get_zero(teacher):
    short = dataclasses.replace(teacher, spec=SHORT_SPEC)
    attribution = integrated_gradients(short, LONG_TEXT, steps=16, batch_tokens=16 * 8)
    assert list(attribution.words) == review_words(LONG_TEXT)
    assert all(attribution.words[word] == 0.0 for word in set(attribution.words) - SEEN)
    assert all(attribution.words[word] != 0.0 for word in SEEN)
    assert attribution.output == pytest.approx(
        short.logits([LONG_TEXT], BATCHING, progress=False)[0], abs=1e-4
    )
    assert abs(completeness_gap(attribution)) < 0.02 * abs(attribution.output - attribution.bias)


@pytest.mark.parametrize("precision", ["int8", "onnx_int8"])
def test_a_quantised_teacher_is_refused_for_integrated_gradients(teacher, precision):
    with pytest.raises(UserError, match="precision fp32"):
        integrated_gradients(dataclasses.replace(teacher, precision=precision), TEXT, 4, 4)


def test_occlusion_is_the_logit_drop_without_the_word_in_one_batched_call(teacher, monkeypatch):
    calls = []

    def counted_logits(texts, params, progress, description):
        calls.append(len(texts))
        return Teacher.logits(teacher, texts, params, progress=False)

    other = "An awful film."
    full = Teacher.logits(teacher, [TEXT, other], BATCHING, progress=False)
    monkeypatch.setattr(teacher, "logits", counted_logits)
    attribution, second = occlusion(teacher, [TEXT, other], full, BATCHING)
    assert calls == [len(review_words(TEXT)) + len(review_words(other))]
    [without_great] = Teacher.logits(
        teacher, ["movie, the acting was awful! The plot was ."], BATCHING, progress=False
    )
    assert attribution.words["great"] == pytest.approx(full[0] - without_great, abs=1e-6)
    [without_awful] = Teacher.logits(teacher, ["An film."], BATCHING, progress=False)
    assert second.words["awful"] == pytest.approx(full[1] - without_awful, abs=1e-6)
    assert list(attribution.words) == review_words(TEXT)
    assert (attribution.bias, attribution.absent, attribution.output) == (0.0, 0.0, None)


def test_occlusion_scores_no_variant_the_truncation_leaves_unchanged(teacher, monkeypatch):
    short = dataclasses.replace(teacher, spec=SHORT_SPEC)
    [logit] = short.logits([LONG_TEXT], BATCHING, progress=False)
    scored = []

    def counted_logits(texts, params, progress, description):
        scored.extend(texts)
        return Teacher.logits(short, texts, params, progress=False)

    monkeypatch.setattr(short, "logits", counted_logits)
    [attribution] = occlusion(short, [LONG_TEXT], [logit], BATCHING)
    assert len(scored) == len(SEEN)
    for word in SEEN:
        variant = without_words(LONG_TEXT, [word])
        [without] = Teacher.logits(short, [variant], BATCHING, progress=False)
        assert attribution.words[word] == pytest.approx(logit - without, abs=1e-6)
        assert attribution.words[word] != 0.0
    assert all(attribution.words[word] == 0.0 for word in set(attribution.words) - SEEN)
    assert list(attribution.words) == review_words(LONG_TEXT)


def test_guided_occlusion_measures_the_guides_strongest_share_and_ranks_it_first(
    teacher, monkeypatch
):
    words = review_words(TEXT)  # 8: great movie the acting was awful plot ("great" twice)
    guide = Attribution({word: 0.01 * (position + 1) for position, word in enumerate(words)})
    guide.words["awful"], guide.words["movie"] = -5.0, 3.0  # the strongest two by |value|
    guide.words["plot"] = -0.5
    [logit] = Teacher.logits(teacher, [TEXT], BATCHING, progress=False)
    scored = []

    def counted_logits(texts, params, progress, description):
        scored.extend(texts)
        return Teacher.logits(teacher, texts, params, progress=False)

    monkeypatch.setattr(teacher, "logits", counted_logits)
    [guided] = guided_occlusion(teacher, [TEXT], [logit], [guide], 0.25, BATCHING)
    assert scored == [without_words(TEXT, ["movie"]), without_words(TEXT, ["awful"])]
    [full] = occlusion(teacher, [TEXT], [logit], BATCHING)
    assert list(guided.words) == words
    measured = ["movie", "awful"]
    for word in measured:
        assert guided.words[word] == pytest.approx(full.words[word], abs=1e-6)
    smallest_drop = min(abs(full.words[word]) for word in measured)
    assert smallest_drop > 0
    guessed = [word for word in words if word not in measured]
    scales = {round(guided.words[word] / guide.words[word], 12) for word in guessed}
    assert len(scales) == 1 and scales.pop() > 0  # the guide's order and signs, scaled alike
    assert max(abs(guided.words[word]) for word in guessed) < smallest_drop
    [everything] = guided_occlusion(teacher, [TEXT], [logit], [guide], 1.0, BATCHING)
    assert everything.words == pytest.approx(full.words, abs=1e-6)


def test_measured_words_outrank_guessed_ones_and_no_effect_leaves_the_guide_as_it_is():
    guide = Attribution({"a": 4.0, "b": -3.0, "c": 2.0, "d": -1.0})
    first = measured_first(guide, Attribution({"c": 0.2, "d": 0.0}))  # d: measured, no effect
    assert first.words == pytest.approx({"a": 0.1, "b": -0.075, "c": 0.2, "d": 0.0})
    assert first.ranked(1, seed=0) == ["c", "a", "d", "b"]  # c measured for, d measured zero
    assert measured_first(guide, Attribution({"a": 0.0})).words == guide.words | {"a": 0.0}
    assert measured_first(Attribution({}), Attribution({})).words == {}


def test_pieces_map_to_the_word_they_overlap_and_punctuation_to_none():
    text = "unbelievable, movie!"
    offsets = [(0, 2), (2, 6), (6, 12), (12, 13), (14, 19), (19, 20)]
    assert piece_words(text, offsets) == [
        ["unbelievable"],
        ["unbelievable"],
        ["unbelievable"],
        [],
        ["movie"],
        [],
    ]


def test_word_sums_add_every_piece_of_every_occurrence():
    text = "Unbelievable, unbelievable 5€off!"
    # un ##bel ##ievable , un ##bel ##ievable [UNK] !  (the [UNK] spans two \w+ words)
    offsets = [(0, 2), (2, 5), (5, 12), (12, 13), (14, 16), (16, 19), (19, 26), (27, 32), (32, 33)]
    values = [2.0**power for power in range(len(offsets))]
    words, absent = word_sums(text, offsets, values)
    assert words == {
        "unbelievable": 1 + 2 + 4 + 16 + 32 + 64,
        "5": 128 / 2,
        "off": 128 / 2,
    }
    assert absent == 8 + 256
    assert sum(words.values()) + absent == pytest.approx(sum(values))


@pytest.fixture(scope="module")
def pair_teacher(tiny_bert) -> Teacher:
    """The tiny teacher with a seeded three-logit head that reads pairs (segment ids)."""
    teacher = tiny_teacher(tiny_bert)
    torch.manual_seed(1)
    model = BertClassifier(
        teacher.model.encoder, "mean", 0.0, teacher.tokenizer.sep_token_id, num_logits=3
    ).eval()
    return dataclasses.replace(teacher, model=model)


PAIR = ("Great movie, the acting was awful!", "The acting was great.")


def test_integrated_gradients_on_a_pair_explain_one_class_with_side_words(pair_teacher):
    logits = Teacher.logits(pair_teacher, [PAIR], BATCHING, progress=False)[0]
    for target in range(3):
        attribution = integrated_gradients(pair_teacher, PAIR, 50, 25 * 32, target)
        assert attribution.output == pytest.approx(logits[target], abs=1e-4)
        gap = completeness_gap(attribution)
        assert abs(gap) < 0.02 * abs(attribution.output - attribution.bias)
        assert list(attribution.words) == review_words(PAIR)
        assert attribution.words["p_awful"] != 0 and attribution.words["h_great"] != 0
    ids, words_at = position_words(pair_teacher.tokenizer, PAIR, pair_teacher.spec)
    specials = [i for i, at in zip(ids, words_at, strict=True) if at is None]
    cls, sep = pair_teacher.tokenizer.cls_token_id, pair_teacher.tokenizer.sep_token_id
    assert specials == [cls, sep, sep]  # the baseline keeps them; every other piece is [PAD]


def test_occlusion_of_a_pair_drops_a_word_from_its_side_for_the_target_class(pair_teacher):
    other = ("An awful film.", "A film.")
    full = Teacher.logits(pair_teacher, [PAIR, other], BATCHING, progress=False)
    targets = [2, 0]
    first, second = occlusion(pair_teacher, [PAIR, other], full, BATCHING, targets=targets)
    [without] = Teacher.logits(pair_teacher, [without_words(PAIR, ["h_great"])], BATCHING, False)
    assert first.words["h_great"] == pytest.approx(full[0, 2] - without[2], abs=1e-6)
    assert without_words(PAIR, ["h_great"]) == (PAIR[0], "The acting was .")
    [without] = Teacher.logits(pair_teacher, [without_words(other, ["p_awful"])], BATCHING, False)
    assert second.words["p_awful"] == pytest.approx(full[1, 0] - without[0], abs=1e-6)
    assert list(first.words) == review_words(PAIR)
