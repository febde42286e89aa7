"""Smoke test of the packaged MiniLM teacher (the CPU default) on two real IMDB reviews."""

import numpy as np
import pytest
import torch
from test_teacher import teacher_params

from bertdistill.config import InferenceParams
from bertdistill.teacher_model import MINILM_PACKAGE, EncodingSpec, encode_texts, load_pretrained
from bertdistill.training import train

# Two reviews copied verbatim from IMDB's test split (aclImdb test/pos/17_8.txt, test/neg/78_1.txt).
REVIEWS = [
    "Brilliant and moving performances by Tom Courtenay and Peter Finch.",
    "I found this movie really hard to sit through, my attention kept wandering off the tv. "
    "As far as romantic movies go..this one is the worst I've seen. Don't bother with it.",
]


def test_minilm_loads_trains_one_step_and_predicts():
    params = teacher_params(MINILM_PACKAGE, max_len=64, head_tokens=16, epochs=1, batch_size=2)
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(params)
    assert model.encoder.config.hidden_size == 384
    assert sum(p.numel() for p in model.encoder.parameters()) > 20_000_000
    spec = EncodingSpec(params.max_len, params.truncation, params.head_tokens, params.pooling)
    encoded = encode_texts(tokenizer, REVIEWS, spec)
    assert max(len(ids) for ids in encoded) <= 64
    before = model.classifier.weight.detach().clone()
    inference = InferenceParams(batch_tokens=256, max_batch_size=2, precision="fp32")
    result = train(
        model, encoded, np.array([1, 0]), encoded, np.array([1, 0]),
        tokenizer.pad_token_id, params, inference, seed=0, device=torch.device("cpu"),
    )  # fmt: skip
    assert len(result.steps) == 1
    assert np.isfinite(result.steps[0]["train_loss"])
    assert not torch.equal(before, model.classifier.weight)
    assert result.best_val_accuracy in (0.0, 0.5, 1.0)


@pytest.mark.parametrize("pooling", ["pooler", "cls"])
def test_minilm_supports_every_pooling(pooling):
    params = teacher_params(MINILM_PACKAGE, pooling=pooling, max_len=64, head_tokens=16)
    model, _ = load_pretrained(params)
    assert (model.encoder.pooler is not None) == (pooling == "pooler")
