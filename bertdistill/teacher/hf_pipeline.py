"""The fine-tuned teacher as a transformers text-classification pipeline, in one call::

    classify = teacher_pipeline("models/teacher")
    classify("A wonderful film.")  # [{"label": "positive", "score": 0.97...}]

transformers' ``AutoModelForSequenceClassification`` cannot load a teacher folder faithfully:
its BERT classifies the pooler's [CLS] output with weights named ``bert.*`` and
``classifier.*`` sized for its own head, and its tokenizer cuts a long text at the head only. The
teacher's head reads its own pooling (a masked mean by default) of texts cut as ``teacher.json``
says (head+tail by default). This pipeline runs exactly that: the project's tokenisation in
``preprocess``, the saved classifier in ``_forward``, its logits through the sigmoid (two
classes) or the softmax in ``postprocess``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Pipeline, PretrainedConfig, TextClassificationPipeline

from bertdistill.core.logits import class_proba
from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.teacher.inference import load_teacher
from bertdistill.teacher.model import BertClassifier, EncodingSpec, encode_texts


def class_names(config: PretrainedConfig, num_logits: int) -> tuple[str, ...]:
    """The classes a teacher's logits stand for: its config's ``id2label`` where that names
    every class; otherwise (a folder saved without them, whose config holds transformers'
    ``LABEL_<i>``) negative/positive for two classes, ``LABEL_<i>`` for more."""
    count = 2 if num_logits == 1 else num_logits
    placeholders = tuple(f"LABEL_{index}" for index in range(count))
    names = tuple(config.id2label.get(index, "") for index in range(count))
    if len(config.id2label) == count and all(names) and names != placeholders:
        return names
    return SENTIMENT_CLASSES if count == 2 else placeholders


class PipelineTeacher(nn.Module):
    """The fine-tuned classifier as a pipeline handles its model: a ``config`` whose
    ``id2label`` names the classes, a ``device`` and a ``dtype``; its forward gives
    ``{"logits": ...}``, one logit per text for two classes, a row of K for more."""

    input_modalities = ("text",)

    def __init__(self, classifier: BertClassifier, classes: Sequence[str]) -> None:
        super().__init__()
        self.classifier = classifier
        self.config = copy.deepcopy(classifier.encoder.config)
        self.config.id2label = dict(enumerate(classes))
        self.config.label2id = {name: index for index, name in enumerate(classes)}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def can_generate(self) -> bool:
        return False

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {"logits": self.classifier(input_ids, attention_mask)}


class TeacherClassificationPipeline(TextClassificationPipeline):
    """A :class:`~transformers.TextClassificationPipeline` over a fine-tuned teacher: a text,
    a ``{"text": ..., "text_pair": ...}`` pair or a list of them in; per text the top class
    (``[{"label", "score"}]`` for one text), or with ``top_k`` the best k classes, with
    ``top_k=None`` every class, best first. Scores are the teacher's class probabilities, so
    ``function_to_apply`` and tokenizer arguments are refused: ``teacher.json`` fixes the
    truncation."""

    def __init__(
        self, model: PipelineTeacher, tokenizer: Any, spec: EncodingSpec, **kwargs: Any
    ) -> None:
        self.spec = spec
        # TextClassificationPipeline.__init__ adds to Pipeline's only a check that the model is
        # one of transformers' sequence classifiers, which logs an error for the teacher.
        Pipeline.__init__(
            self, model=model, tokenizer=tokenizer, task="text-classification", **kwargs
        )

    def _sanitize_parameters(self, top_k: Any = "", **unsupported: Any):
        if unsupported:
            raise TypeError(
                f"the teacher's pipeline takes top_k (and batch_size, num_workers), not "
                f"{', '.join(sorted(unsupported))}: its scores are the teacher's class "
                f"probabilities and teacher.json fixes how texts are cut"
            )
        # "" (not given) keeps the one-dictionary answer TextClassificationPipeline gives by
        # default; a given top_k, None included, asks for a ranked list.
        postprocess = {} if top_k == "" else {"top_k": top_k, "_legacy": False}
        return {}, {}, postprocess

    def preprocess(self, inputs: str | dict[str, str]) -> dict[str, torch.Tensor]:
        if isinstance(inputs, dict):
            pair = inputs.get("text_pair")
            text = inputs["text"] if pair is None else (inputs["text"], pair)
        elif isinstance(inputs, str):
            text = inputs
        else:
            raise ValueError(
                f"the teacher's pipeline classifies a text, a {{'text', 'text_pair'}} dict or a "
                f"list of them, not {type(inputs).__name__}"
            )
        ids = torch.tensor([encode_texts(self.tokenizer, [text], self.spec)[0]])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(**model_inputs)

    def postprocess(
        self, model_outputs: dict[str, torch.Tensor], top_k: int | None = 1, _legacy=True
    ):
        scores = class_proba(model_outputs["logits"].float().numpy())[0]
        labels = self.model.config.id2label
        if _legacy:  # top_k not given: the top class alone
            best = int(scores.argmax())
            return {"label": labels[best], "score": float(scores[best])}
        ranked = [
            {"label": labels[index], "score": float(score)} for index, score in enumerate(scores)
        ]
        ranked.sort(key=lambda entry: entry["score"], reverse=True)
        return ranked if top_k is None else ranked[:top_k]


def teacher_pipeline(
    folder: str | Path, device: torch.device | str | None = None, **pipeline_kwargs: Any
) -> TeacherClassificationPipeline:
    """The teacher saved in ``folder`` (``models/teacher``) as a text-classification pipeline,
    run in fp32 on ``device`` (by default the GPU where there is one); ``pipeline_kwargs`` go
    to :class:`~transformers.Pipeline` (``batch_size``, ``top_k``)."""
    teacher = load_teacher(folder, torch.device(device) if device is not None else None)
    classes = class_names(teacher.model.encoder.config, teacher.model.num_logits)
    return TeacherClassificationPipeline(
        PipelineTeacher(teacher.model, classes),
        teacher.tokenizer,
        teacher.spec,
        device=teacher.device,
        **pipeline_kwargs,
    )
