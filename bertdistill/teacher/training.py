"""Fine-tuning the teacher: BCE-with-logits (cross-entropy for K classes), AdamW with warm-up and
decay, gradient clipping, micro-batches with accumulated gradients, DDP under a launcher, the best
validation epoch kept."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from bertdistill.core.files import atomic_folder
from bertdistill.core.logits import predicted_classes
from bertdistill.core.params import SENTIMENT_CLASSES, BatchingParams, TeacherParams
from bertdistill.teacher.batching import (
    collate,
    length_grouped_batches,
    micro_batches,
    precision_context,
    predict_logits,
)
from bertdistill.teacher.distributed import SINGLE, Workers, sharded
from bertdistill.teacher.files import SPEC_FILE, WEIGHTS_FILE
from bertdistill.teacher.model import BertClassifier, EncodingSpec
from bertdistill.teacher.training_log import NoLog, TrainingLog


@dataclass
class TrainingResult:
    best_epoch: int
    best_val_accuracy: float
    steps: list[dict]
    epochs: list[dict]
    train_seconds: float
    validation_seconds: float


def epoch_batches(
    lengths: Sequence[int], params: TeacherParams, rng: np.random.Generator, workers: Workers
) -> list[np.ndarray]:
    """One epoch's optimiser batches. With several workers each batch is split between them, so
    a batch smaller than the number of workers (at most one per group) is left out."""
    batches = length_grouped_batches(
        lengths, params.batch_size, params.length_group_size, rng, params.batch_tokens
    )
    return [batch for batch in batches if len(batch) >= workers.world_size]


def train(
    model: BertClassifier,
    train_encoded: Sequence[Sequence[int]],
    train_labels: np.ndarray,
    val_encoded: Sequence[Sequence[int]],
    val_labels: np.ndarray,
    pad_id: int,
    params: TeacherParams,
    batching: BatchingParams,
    seed: int,
    device: torch.device,
    workers: Workers = SINGLE,
    log: TrainingLog | None = None,
) -> TrainingResult:
    """Fine-tune with BCE-with-logits (a one-logit head) or cross-entropy (K logits), AdamW,
    linear warm-up/decay and gradient clipping.

    Each batch of ``params.batch_size`` texts (or ``params.batch_tokens`` padded tokens) is one
    optimiser step, run as micro-batches of at
    most ``params.micro_batch_tokens`` padded tokens with accumulated gradients. Under a launcher
    (several ``workers``) the model is wrapped in DistributedDataParallel and every worker takes
    an interleaved share of each batch; the update is the same as one process's. After every
    epoch the model is scored on the validation split; the best epoch's weights are loaded back
    into ``model`` at the end. Every step's loss and every epoch's validation loss and accuracy
    go to ``log`` as they come.
    """
    log = log or NoLog()
    rng = np.random.default_rng(seed)
    lengths = [len(ids) for ids in train_encoded]
    # Every epoch's batches up front: with a token budget their number depends on the shuffle,
    # and the learning-rate schedule needs the total.
    plan = [epoch_batches(lengths, params, rng, workers) for _ in range(params.epochs)]
    total_steps = sum(len(batches) for batches in plan)
    optimizer, scheduler = _optimiser(model, params, total_steps)
    binary = model.num_logits == 1
    labels = torch.tensor(train_labels, dtype=torch.float32 if binary else torch.long)
    model.to(device)
    texts = _TrainingSet(train_encoded, lengths, labels, pad_id)
    network = _network(model, device, workers)
    fit = _Fit(model, network, optimizer, scheduler, texts, params, device, workers)
    steps, epochs = [], []
    best_state, best_accuracy, best_epoch = None, -1.0, 0
    train_seconds = validation_seconds = 0.0
    with tqdm(total=total_steps, desc="finetune", unit="step", disable=not workers.is_main) as bar:
        for epoch in range(1, params.epochs + 1):
            started = time.perf_counter()
            model.train()
            for batch in plan[epoch - 1]:
                batch_loss = fit.step(batch)
                steps.append(
                    {"step": len(steps) + 1, "epoch": epoch, "train_loss": round(batch_loss, 6)}
                )
                log.step(batch_loss)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{batch_loss:.4f}")
            train_seconds += time.perf_counter() - started
            started = time.perf_counter()
            accuracy, val_loss = _validation_scores(
                model, val_encoded, val_labels, pad_id, params, batching, device, workers
            )
            validation_seconds += time.perf_counter() - started
            log.epoch(val_loss, accuracy)
            epochs.append(_epoch_record(epoch, steps, accuracy, val_loss, workers))
            if accuracy > best_accuracy:
                best_accuracy, best_epoch = accuracy, epoch
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return TrainingResult(
        best_epoch, best_accuracy, steps, epochs, train_seconds, validation_seconds
    )


@dataclass(frozen=True)
class _TrainingSet:
    """The training texts a batch's row indices point into: encoded, their lengths, their labels."""

    encoded: Sequence[Sequence[int]]
    lengths: Sequence[int]
    labels: torch.Tensor
    pad_id: int


def _network(model: nn.Module, device: torch.device, workers: Workers) -> nn.Module:
    """The module the batches run through: the model, or its DDP wrapper under a launcher."""
    if workers.world_size == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


@dataclass(frozen=True)
class _Fit:
    """One fine-tuning run's model, the module its batches run through, and its optimiser."""

    model: nn.Module
    network: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    texts: _TrainingSet
    params: TeacherParams
    device: torch.device
    workers: Workers

    def step(self, batch: np.ndarray) -> float:
        """One optimiser step on ``batch``; returns its mean loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = _accumulate_gradients(
            self.network, batch, self.texts, self.params, self.device, self.workers
        )
        if self.params.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.params.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return loss


def _optimiser(
    model: nn.Module, params: TeacherParams, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters, with linear warm-up then decay to 0."""
    if params.freeze_word_embeddings:
        model.encoder.get_input_embeddings().requires_grad_(False)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, params.weight_decay), lr=params.lr, weight_decay=0.0
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(params.warmup_ratio * total_steps), total_steps
    )
    return optimizer, scheduler


def _validation_scores(
    model: BertClassifier,
    val_encoded: Sequence[Sequence[int]],
    val_labels: np.ndarray,
    pad_id: int,
    params: TeacherParams,
    batching: BatchingParams,
    device: torch.device,
    workers: Workers,
) -> tuple[float, float]:
    """The model's accuracy and mean loss (the training loss's) on the validation split, its
    texts shared between the workers."""
    val_logits = sharded(
        lambda indices: predict_logits(
            model,
            [val_encoded[i] for i in indices],
            pad_id,
            batching,
            device,
            params.precision,
            progress=False,
        ),
        [len(ids) for ids in val_encoded],
        workers,
    )
    accuracy = float((predicted_classes(val_logits) == val_labels).mean())
    logits = torch.as_tensor(np.asarray(val_logits, dtype=np.float32))
    if logits.ndim == 1:
        targets = torch.tensor(val_labels, dtype=torch.float32)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets)
    else:
        loss = nn.functional.cross_entropy(logits, torch.tensor(val_labels, dtype=torch.long))
    return accuracy, float(loss)


def _epoch_record(
    epoch: int, steps: list[dict], accuracy: float, val_loss: float, workers: Workers
) -> dict:
    """The epoch's mean training loss and validation loss and accuracy, printed by the main
    worker."""
    epoch_loss = float(np.mean([s["train_loss"] for s in steps if s["epoch"] == epoch]))
    if workers.is_main:
        tqdm.write(
            f"epoch {epoch}: train loss {epoch_loss:.4f}, val loss {val_loss:.4f}, "
            f"val accuracy {accuracy:.4f}"
        )
    return {
        "epoch": epoch,
        "train_loss": round(epoch_loss, 6),
        "val_loss": round(val_loss, 6),
        "val_accuracy": accuracy,
    }


def _accumulate_gradients(
    network: nn.Module,
    batch: np.ndarray,
    texts: _TrainingSet,
    params: TeacherParams,
    device: torch.device,
    workers: Workers,
) -> float:
    """Backward passes over this worker's share of ``batch``; returns the batch's mean loss.

    Each part's summed loss is divided by the whole batch's size (and multiplied by the number
    of workers, whose gradients DDP averages), so the gradient is the batch-mean gradient.
    """
    share = batch[workers.rank :: workers.world_size]
    parts = micro_batches(share, texts.lengths, params.micro_batch_tokens)
    # A one-logit head's targets are 0.0/1.0 floats (BCE); a K-logit head's are class ids.
    binary = texts.labels.dtype == torch.float32
    loss_fn = (nn.BCEWithLogitsLoss if binary else nn.CrossEntropyLoss)(reduction="sum")
    batch_loss = 0.0
    for index, part in enumerate(parts):
        input_ids, attention_mask = collate([texts.encoded[i] for i in part], texts.pad_id, device)
        # DDP all-reduces gradients on the last part only; earlier parts just accumulate.
        last = index == len(parts) - 1
        syncing = last or workers.world_size == 1
        with contextlib.nullcontext() if syncing else network.no_sync():
            with precision_context(device, params.precision):
                logits = network(input_ids, attention_mask)
            loss = loss_fn(logits.float(), texts.labels[part].to(device)) / len(batch)
            (loss * workers.world_size).backward()
        batch_loss += loss.item()
    if workers.world_size > 1:
        total = torch.tensor([batch_loss], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(total)
        batch_loss = float(total.item())
    return batch_loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The trainable parameters; no weight decay on biases and LayerNorm weights, as in BERT's
    own recipe."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def save_teacher(
    folder: str | Path,
    model: BertClassifier,
    tokenizer: PreTrainedTokenizerBase,
    spec: EncodingSpec,
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> None:
    """Write weights (safetensors), encoder config, tokenizer and encoding spec, atomically. The
    config names the classes as transformers does (``id2label``, ``label2id``), which the
    :mod:`~bertdistill.teacher.hf_pipeline` labels its scores with."""
    with atomic_folder(folder) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        config = copy.deepcopy(model.encoder.config)
        config.id2label = dict(enumerate(classes))
        config.label2id = {name: index for index, name in enumerate(classes)}
        config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SPEC_FILE).write_text(json.dumps(dataclasses.asdict(spec), indent=2) + "\n")
