import dataclasses

import numpy as np
import pytest
import torch
from support import (
    NLI_CLASSES,
    dropout_free_copy,
    pair_frame,
    synthetic_pairs,
    synthetic_reviews,
    teacher_params,
)

from bertdistill.core.errors import UserError
from bertdistill.core.params import InferenceParams, TeacherParams
from bertdistill.core.tables import frame_texts
from bertdistill.teacher.batching import (
    collate,
    length_grouped_batches,
    micro_batches,
    predict_logits,
    token_budget_batches,
)
from bertdistill.teacher.inference import is_feed_forward_output, load_teacher
from bertdistill.teacher.model import (
    BertClassifier,
    EncodingSpec,
    encode_texts,
    load_pretrained,
    truncate_ids,
)
from bertdistill.teacher.training import save_teacher, train

INFERENCE = InferenceParams(batch_tokens=256, max_batch_size=8, precision="fp32")


def spec_of(params: TeacherParams) -> EncodingSpec:
    return EncodingSpec(params.max_len, params.truncation, params.head_tokens, params.pooling)


def train_tiny(params: TeacherParams, train_frame, val_frame, classes: int = 2):
    """Fine-tune a freshly loaded tiny teacher on CPU; returns (result, model)."""
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params, classes)
    spec = spec_of(params)
    result = train(
        model,
        encode_texts(tokenizer, frame_texts(train_frame), spec),
        train_frame["label"].to_numpy(),
        encode_texts(tokenizer, frame_texts(val_frame), spec),
        val_frame["label"].to_numpy(),
        tokenizer.pad_token_id,
        params,
        INFERENCE,
        seed=0,
        device=torch.device("cpu"),
    )
    return result, model


@pytest.mark.parametrize(
    ("truncation", "expected"),
    [
        ("head", [0, 1, 2, 3, 4]),
        ("tail", [5, 6, 7, 8, 9]),
        ("head_tail", [0, 1, 7, 8, 9]),
    ],
)
def test_truncation_strategies(truncation, expected):
    assert truncate_ids(range(10), 5, truncation, head_tokens=2) == expected
    assert truncate_ids(range(4), 5, truncation, head_tokens=2) == [0, 1, 2, 3]


def test_encode_texts_adds_special_tokens_within_max_len(tiny_bert):
    params = teacher_params(tiny_bert, max_len=10, head_tokens=3)
    _, tokenizer = load_pretrained(params)
    text = " ".join(["great"] * 3 + ["movie"] * 20 + ["awful"] * 5)
    (ids,) = encode_texts(tokenizer, [text], spec_of(params))
    great, awful = tokenizer.convert_tokens_to_ids(["great", "awful"])
    assert ids == [tokenizer.cls_token_id, great, great, great] + [awful] * 5 + [
        tokenizer.sep_token_id
    ]


def test_pairs_encode_as_cls_a_sep_b_sep_cut_longest_first(tiny_bert):
    params = teacher_params(tiny_bert, max_len=10)
    _, tokenizer = load_pretrained(params)
    great, awful, movie = tokenizer.convert_tokens_to_ids(["great", "awful", "movie"])
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    pairs = [("great great", "awful"), ("great " * 9, "awful " * 3), ("movie", "awful " * 9)]
    short, long_first, long_second = encode_texts(tokenizer, pairs, spec_of(params))
    assert short == [cls, great, great, sep, awful, sep]
    assert long_first == [cls, *[great] * 4, sep, *[awful] * 3, sep]  # 7 of 10 - 3 specials
    assert long_second == [cls, movie, sep, *[awful] * 6, sep]


def test_token_types_follow_the_first_sep_and_single_texts_get_none(tiny_bert):
    model, tokenizer = load_pretrained(teacher_params(tiny_bert))
    spec = spec_of(teacher_params(tiny_bert))
    pad = tokenizer.pad_token_id
    singles = encode_texts(tokenizer, ["great movie", "a dull film was the plot"], spec)
    ids, mask = collate(singles, pad, torch.device("cpu"))  # padding after a single text's [SEP]
    assert model.token_types(ids, mask) is None
    pairs = encode_texts(tokenizer, [("great movie", "awful"), ("a", "the plot was dull")], spec)
    ids, mask = collate(pairs, pad, torch.device("cpu"))
    types = model.token_types(ids, mask)
    # [CLS] a [SEP] are segment 0, b [SEP] segment 1, padding 0 (as the tokenizers give it)
    assert types[0].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert types[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="mix"):
        encode_texts(tokenizer, ["great movie", ("great", "awful")], spec)


def test_three_class_teacher_learns_pairs_and_round_trips(tiny_bert, tmp_path):
    params = teacher_params(tiny_bert, epochs=16, lr=5e-3, max_len=32)
    train_frame = pair_frame(synthetic_pairs(72, seed=1))
    val_frame = pair_frame(synthetic_pairs(30, seed=2))
    result, model = train_tiny(params, train_frame, val_frame, classes=len(NLI_CLASSES))
    assert model.classifier.out_features == 3
    assert result.best_val_accuracy >= 0.9  # a third by chance
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]
    _, tokenizer = load_pretrained(params)
    save_teacher(tmp_path / "teacher", model, tokenizer, spec_of(params))
    teacher = load_teacher(tmp_path / "teacher", torch.device("cpu"))
    logits = teacher.logits(frame_texts(val_frame), INFERENCE, progress=False)
    assert logits.shape == (30, 3)
    encoded = encode_texts(tokenizer, frame_texts(val_frame), spec_of(params))
    expected = predict_logits(model, encoded, 0, INFERENCE, torch.device("cpu"), progress=False)
    np.testing.assert_allclose(logits, expected, atol=1e-6)
    assert (logits.argmax(axis=1) == val_frame["label"]).mean() == result.best_val_accuracy


def test_encoding_in_chunks_keeps_order_and_ids(tiny_bert):
    params = teacher_params(tiny_bert, max_len=16, head_tokens=4)
    _, tokenizer = load_pretrained(params)
    texts = synthetic_reviews(11, seed=7)["text"].tolist()
    whole = encode_texts(tokenizer, texts, spec_of(params), chunk_size=100)
    assert encode_texts(tokenizer, texts, spec_of(params), chunk_size=3) == whole
    assert len(whole) == 11 and len(set(map(tuple, whole))) > 1
    assert encode_texts(tokenizer, [], spec_of(params)) == []


def test_token_budget_batches_cover_everything_once_within_budget():
    lengths = [5, 40, 12, 12, 3, 40, 7, 25]
    batches = token_budget_batches(lengths, batch_tokens=50, max_batch_size=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 50


def test_length_grouped_batches_are_seeded_permutations():
    lengths = list(np.random.default_rng(0).integers(5, 100, size=53))
    first = length_grouped_batches(lengths, 4, 3, np.random.default_rng(1))
    again = length_grouped_batches(lengths, 4, 3, np.random.default_rng(1))
    other = length_grouped_batches(lengths, 4, 3, np.random.default_rng(2))
    assert sorted(np.concatenate(first).tolist()) == list(range(53))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=False))
    spread = np.mean([np.ptp([lengths[i] for i in batch]) for batch in first])
    shuffled = np.random.default_rng(3).permutation(53)
    random_spread = np.mean(
        [np.ptp([lengths[i] for i in shuffled[j : j + 4]]) for j in range(0, 52, 4)]
    )
    assert spread < random_spread / 2


def test_token_budget_training_batches_hold_more_short_texts_than_long_ones():
    lengths = list(np.random.default_rng(0).integers(5, 100, size=200))
    batches = length_grouped_batches(lengths, 8, 5, np.random.default_rng(1), batch_tokens=400)
    again = length_grouped_batches(lengths, 8, 5, np.random.default_rng(1), batch_tokens=400)
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    widths = [max(lengths[i] for i in batch) for batch in batches]
    for batch, width in zip(batches, widths, strict=True):
        assert width * len(batch) <= 400
    sizes = [len(batch) for batch in batches]
    assert sizes[int(np.argmin(widths))] > sizes[int(np.argmax(widths))]


def test_training_with_a_token_budget_schedules_every_planned_step(tiny_bert):
    params = teacher_params(tiny_bert, epochs=2, batch_tokens=128)
    train_frame = synthetic_reviews(64, seed=1)
    result, _ = train_tiny(params, train_frame, synthetic_reviews(16, seed=2))
    _, tokenizer = load_pretrained(params)
    lengths = [len(ids) for ids in encode_texts(tokenizer, train_frame["text"], spec_of(params))]
    rng = np.random.default_rng(0)  # the seed train_tiny trains with
    planned = [len(length_grouped_batches(lengths, 8, 4, rng, 128)) for _ in range(2)]
    per_epoch = [sum(step["epoch"] == epoch for step in result.steps) for epoch in (1, 2)]
    assert per_epoch == planned and planned != [8, 8]  # batch_size=8 alone would give 8
    with pytest.raises(UserError, match="batch_tokens=32 cannot hold one 64-token review"):
        teacher_params(tiny_bert, batch_tokens=32)


@pytest.mark.parametrize("pooling", ["pooler", "cls", "mean"])
def test_batched_prediction_matches_one_by_one_in_input_order(tiny_bert, pooling):
    params = teacher_params(tiny_bert, pooling=pooling)
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params)
    texts = synthetic_reviews(12, seed=5)["text"].tolist()
    encoded = encode_texts(tokenizer, texts, spec_of(params))
    device = torch.device("cpu")
    batched = predict_logits(
        model, encoded, tokenizer.pad_token_id, INFERENCE, device, progress=False
    )
    single = InferenceParams(batch_tokens=1, max_batch_size=1, precision="fp32")
    one_by_one = predict_logits(
        model, encoded, tokenizer.pad_token_id, single, device, progress=False
    )
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert len(set(np.round(batched, 5))) > 1


def test_pooler_pooling_needs_a_pooler(tiny_bert):
    params = teacher_params(tiny_bert, pooling="cls")
    model, _ = load_pretrained(params)
    with pytest.raises(UserError, match="no pooler"):
        BertClassifier(model.encoder, "pooler", 0.0)


def test_training_learns_the_tiny_task_and_keeps_the_best_epoch(tiny_bert):
    params = teacher_params(tiny_bert, epochs=6, lr=5e-3)
    result, _ = train_tiny(params, synthetic_reviews(64, seed=1), synthetic_reviews(32, seed=2))
    assert len(result.steps) == 6 * 8
    assert result.best_val_accuracy >= 0.9
    assert result.best_val_accuracy == max(epoch["val_accuracy"] for epoch in result.epochs)
    assert result.epochs[result.best_epoch - 1]["val_accuracy"] == result.best_val_accuracy
    first, last = result.epochs[0]["train_loss"], result.epochs[-1]["train_loss"]
    assert last < first


def test_frozen_word_embeddings_stay_pre_trained_while_the_rest_learns(tiny_bert):
    params = teacher_params(tiny_bert, epochs=1, freeze_word_embeddings=True)
    torch.manual_seed(0)
    pre_trained, _ = load_pretrained(params, 2)
    _, model = train_tiny(params, synthetic_reviews(32, seed=1), synthetic_reviews(16, seed=2))
    before = dict(pre_trained.named_parameters())
    words = "encoder.embeddings.word_embeddings.weight"
    assert torch.equal(dict(model.named_parameters())[words], before[words])
    for name, parameter in model.named_parameters():
        if name.startswith("encoder.") and name != words:
            assert not torch.equal(parameter, before[name]), name
    # without the key the same training moves them
    _, moved = train_tiny(
        teacher_params(tiny_bert, epochs=1),
        synthetic_reviews(32, seed=1),
        synthetic_reviews(16, seed=2),
    )
    assert not torch.equal(dict(moved.named_parameters())[words], before[words])


def test_micro_batches_keep_order_and_fit_the_budget():
    lengths = [30, 10, 25, 5, 40, 8, 8, 8]
    batch = np.array([4, 0, 2, 1, 3, 5, 6, 7])
    parts = micro_batches(batch, lengths, budget=64)
    assert np.array_equal(np.concatenate(parts), batch)
    for part in parts:
        assert len(part) == 1 or max(lengths[i] for i in part) * len(part) <= 64
    assert [len(part) for part in parts] == [1, 2, 5]


def test_accumulated_micro_batches_match_whole_batch_updates(tiny_bert, tmp_path):
    """Gradient accumulation over micro-batches must give the same training as whole batches."""
    folder = dropout_free_copy(tiny_bert, tmp_path / "bert")
    train_frame, val_frame = synthetic_reviews(32, seed=1), synthetic_reviews(8, seed=2)
    runs = []
    for budget in (4096, 40):
        params = teacher_params(folder, epochs=1, micro_batch_tokens=budget)
        result, model = train_tiny(params, train_frame, val_frame)
        runs.append((result, model.state_dict()))
    (whole, whole_state), (accumulated, accumulated_state) = runs
    losses = [[step["train_loss"] for step in run.steps] for run in (whole, accumulated)]
    np.testing.assert_allclose(losses[0], losses[1], atol=1e-5)
    for key, value in whole_state.items():
        torch.testing.assert_close(accumulated_state[key], value, atol=1e-4, rtol=1e-4)


def test_save_and_load_round_trip(tiny_bert, tmp_path):
    params = teacher_params(tiny_bert)
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params)
    save_teacher(tmp_path / "teacher", model, tokenizer, spec_of(params))
    texts = synthetic_reviews(6, seed=3)["text"].tolist()
    encoded = encode_texts(tokenizer, texts, spec_of(params))
    expected = predict_logits(model, encoded, 0, INFERENCE, torch.device("cpu"), progress=False)
    teacher = load_teacher(tmp_path / "teacher", torch.device("cpu"))
    np.testing.assert_allclose(
        teacher.logits(texts, INFERENCE, progress=False), expected, atol=1e-6
    )
    probabilities = teacher.proba_function(INFERENCE)(texts)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert dataclasses.asdict(teacher.spec) == dataclasses.asdict(spec_of(params))


def test_int8_teacher_is_quantised_close_to_fp32_and_cpu_only(tiny_bert, tmp_path):
    params = teacher_params(tiny_bert)
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params)
    save_teacher(tmp_path / "teacher", model, tokenizer, spec_of(params))
    fp32 = load_teacher(tmp_path / "teacher", torch.device("cpu"))
    int8 = load_teacher(tmp_path / "teacher", torch.device("cpu"), precision="int8")
    quantized = torch.ao.nn.quantized.dynamic.Linear
    kinds = {name: type(module) for name, module in int8.model.named_modules()}
    linears = [n for n, m in fp32.model.named_modules() if isinstance(m, torch.nn.Linear)]
    kept = [name for name in linears if is_feed_forward_output(name)]
    assert len(kept) == fp32.model.encoder.config.num_hidden_layers
    for name in linears:
        assert kinds[name] is (torch.nn.Linear if name in kept else quantized), name
    assert not any(isinstance(module, quantized) for module in fp32.model.modules())
    texts = synthetic_reviews(16, seed=5)["text"].tolist()
    exact = fp32.logits(texts, INFERENCE, progress=False)
    approximate = int8.logits(texts, INFERENCE, progress=False)
    assert not np.array_equal(exact, approximate)
    np.testing.assert_allclose(approximate, exact, atol=0.05 * np.abs(exact).max() + 1e-3)
    with pytest.raises(UserError, match="inference.precision=int8 is a CPU path"):
        load_teacher(tmp_path / "teacher", torch.device("meta"), precision="int8")


def test_corrupt_or_missing_checkpoint_is_a_user_error(tiny_bert, tmp_path):
    params = teacher_params(tiny_bert)
    model, tokenizer = load_pretrained(params)
    folder = tmp_path / "teacher"
    save_teacher(folder, model, tokenizer, spec_of(params))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match="corrupted or incomplete"):
        load_teacher(folder)
    with pytest.raises(UserError, match="is not a saved teacher"):
        load_teacher(tmp_path / "nothing")


def test_unknown_model_and_too_long_max_len(tiny_bert, tmp_path):
    with pytest.raises(UserError, match="could not be loaded"):
        load_pretrained(teacher_params(tmp_path / "no-such-model"))
    with pytest.raises(UserError, match="exceeds the model's limit of 128"):
        load_pretrained(teacher_params(tiny_bert, max_len=512))


def test_bf16_autocast_runs_and_stays_close_to_fp32(tiny_bert, tmp_path):
    """precision=bf16 (the paper profile's, for GPUs) on the CPU: labelling and one training
    step run, and the logits stay within bf16's rounding of fp32's."""
    params = teacher_params(tiny_bert, epochs=1, precision="bf16")
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params)
    texts = synthetic_reviews(12, seed=5)["text"].tolist()
    encoded = encode_texts(tokenizer, texts, spec_of(params))
    cpu = torch.device("cpu")
    exact = predict_logits(model, encoded, tokenizer.pad_token_id, INFERENCE, cpu, "fp32", False)
    half = predict_logits(model, encoded, tokenizer.pad_token_id, INFERENCE, cpu, "bf16", False)
    assert not np.array_equal(exact, half)
    np.testing.assert_allclose(half, exact, atol=0.05 * np.abs(exact).max() + 1e-2)
    frame = synthetic_reviews(16, seed=1)
    result, _ = train_tiny(params, frame, frame)
    assert all(np.isfinite(step["train_loss"]) for step in result.steps)
