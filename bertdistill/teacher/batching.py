"""Batches for the teacher: token-budget batches for inference, length-grouped shuffled batches
and micro-batches for training, padding, and the batched forward pass both use."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from bertdistill.core.params import BatchingParams


def token_budget_batches(
    lengths: Sequence[int], batch_tokens: int, max_batch_size: int
) -> list[np.ndarray]:
    """Sort by length (longest first) and cut batches whose padded size fits ``batch_tokens``."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = lengths[order[start]]
        size = max(1, min(max_batch_size, batch_tokens // max(longest, 1)))
        batches.append(order[start : start + size])
        start += size
    return batches


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    group_size: int,
    rng: np.random.Generator,
    batch_tokens: int | None = None,
) -> list[np.ndarray]:
    """Shuffle, sort within groups of ``group_size`` batches by length, and shuffle the batches.

    Texts of similar length share a batch (little padding) while the order stays random. Batches
    hold ``batch_size`` texts, or, with ``batch_tokens``, as many texts as fit that many padded
    tokens (more short reviews per batch than long ones).
    """
    order = rng.permutation(len(lengths))
    span = batch_size * group_size
    batches = []
    for start in range(0, len(order), span):
        group = order[start : start + span]
        group = group[np.argsort([-lengths[index] for index in group], kind="stable")]
        if batch_tokens is None:
            batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
        else:
            cuts = token_budget_batches([lengths[i] for i in group], batch_tokens, len(group))
            batches += [group[cut] for cut in cuts]
    return [batches[index] for index in rng.permutation(len(batches))]


def micro_batches(batch: np.ndarray, lengths: Sequence[int], budget: int) -> list[np.ndarray]:
    """Split one optimiser batch into consecutive parts whose padded size fits ``budget`` tokens.

    Gradients accumulate over the parts, so a batch of long reviews costs the memory of a
    ``budget``-token pass while the update is the same as for the whole batch.
    """
    parts, start = [], 0
    while start < len(batch):
        width, size = lengths[batch[start]], 1
        while start + size < len(batch):
            wider = max(width, lengths[batch[start + size]])
            if wider * (size + 1) > budget:
                break
            width, size = wider, size + 1
        parts.append(batch[start : start + size])
        start += size
    return parts


def collate(
    encoded: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its longest text: ``(input_ids, attention_mask)``."""
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids.to(device), attention_mask.to(device)


def precision_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """What ``precision`` names: ``fp32`` runs every product in fp32; ``bf16`` runs them under
    bf16 autocast on ``device`` (fast on CUDA; on a CPU without bf16 units it is slow)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"no autocast for precision {precision!r}")
    return contextlib.nullcontext()


def predict_logits(
    model: nn.Module,
    encoded: Sequence[Sequence[int]],
    pad_id: int,
    params: BatchingParams,
    device: torch.device,
    precision: str = "fp32",
    progress: bool = True,
    description: str = "predict",
) -> np.ndarray:
    """Logits for ``encoded`` texts, batched by a token budget, returned in the input order:
    one per text, or a row of ``model.num_logits`` where the model has several.

    ``precision`` is ``fp32`` or ``bf16`` (autocast); an int8 model is passed in already
    quantised and runs under ``fp32``."""
    per_text = getattr(model, "num_logits", 1)
    logits = np.zeros((len(encoded), per_text) if per_text > 1 else len(encoded), np.float32)
    model.eval()
    lengths = [len(ids) for ids in encoded]
    batches = token_budget_batches(lengths, params.batch_tokens, params.max_batch_size)
    with (
        torch.inference_mode(),
        precision_context(device, precision),
        tqdm(total=len(encoded), desc=description, unit="text", disable=not progress) as bar,
    ):
        for batch in batches:
            input_ids, attention_mask = collate([encoded[i] for i in batch], pad_id, device)
            logits[batch] = model(input_ids, attention_mask).float().cpu().numpy()
            bar.update(len(batch))
    return logits
