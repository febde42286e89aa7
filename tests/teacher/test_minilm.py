"""Smoke test of the packaged MiniLM teacher (the CPU default) on two real IMDB reviews."""

import numpy as np
import pytest
import torch
from support import teacher_params

from bertdistill.core.params import InferenceParams
from bertdistill.teacher.batching import predict_logits
from bertdistill.teacher.model import MINILM_PACKAGE, EncodingSpec, encode_texts, load_pretrained
from bertdistill.teacher.training import train

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
    # Three validation texts (the last sentence of the negative review repeated as its own
    # review): an accuracy in thirds is never 0.5, so a flipped comparison would change it.
    val_encoded = encoded + encode_texts(tokenizer, ["Don't bother with it."], spec)
    val_labels = np.array([1, 0, 0])
    before = model.classifier.weight.detach().clone()
    inference = InferenceParams(batch_tokens=256, max_batch_size=2, precision="fp32")
    result = train(
        model, encoded, np.array([1, 0]), val_encoded, val_labels,
        tokenizer.pad_token_id, params, inference, seed=0, device=torch.device("cpu"),
    )  # fmt: skip
    assert len(result.steps) == 1
    assert np.isfinite(result.steps[0]["train_loss"])
    assert not torch.equal(before, model.classifier.weight)
    # The trained model (the best and only epoch) predicts the validation texts: its accuracy
    # recomputed here is the one training reported, for the epoch it names.
    val_logits = predict_logits(
        model, val_encoded, tokenizer.pad_token_id, inference, torch.device("cpu"), progress=False
    )
    accuracy = float(np.mean((val_logits > 0) == val_labels))
    assert result.best_val_accuracy == accuracy
    assert result.best_epoch == 1
    targets = torch.as_tensor(val_labels, dtype=torch.float32)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.as_tensor(val_logits), targets
    )
    assert result.epochs == [
        {
            "epoch": 1,
            "train_loss": result.steps[0]["train_loss"],
            "val_loss": round(float(loss), 6),
            "val_accuracy": accuracy,
        }
    ]


@pytest.mark.parametrize("pooling", ["pooler", "cls"])
def test_minilm_supports_every_pooling(pooling):
    params = teacher_params(MINILM_PACKAGE, pooling=pooling, max_len=64, head_tokens=16)
    model, _ = load_pretrained(params)
    assert (model.encoder.pooler is not None) == (pooling == "pooler")
