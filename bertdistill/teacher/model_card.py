"""The teacher's model card: ``README.md`` in its folder, in the Hugging Face Hub's form (YAML
metadata, then what the model is, how it was trained, its validation accuracy with a 95%
interval, its intended use and limits, and how to load it). A function of the params, the
encoder's config and the stage's metrics alone, so the same run writes the same bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData
from scipy.stats import binomtest

from bertdistill.core.errors import UserError
from bertdistill.core.files import write_text
from bertdistill.core.params import SENTIMENT_CLASSES, TeacherParams
from bertdistill.core.templates import template_environment
from bertdistill.teacher.files import CARD_FILE, CONFIG_FILE
from bertdistill.teacher.model import MINILM_HUB_ID, MINILM_PACKAGE

# The licenses of the base models the project is run with; another base's is left unstated.
BASE_LICENSES = {
    MINILM_HUB_ID: "apache-2.0",
    "bert-base-uncased": "apache-2.0",
    "google-bert/bert-base-uncased": "apache-2.0",
}
# The Hub's ids of the datasets the project is run on, by their `prepare.dataset` name.
HUB_DATASETS = {"IMDB": "stanfordnlp/imdb", "SNLI": "stanfordnlp/snli"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# What the card needs of the stage's metrics (metrics/teacher.json).
METRICS = ("val_accuracy", "validation_size", "best_epoch", "train_size", "parameters")
POOLING = {
    "mean": ("the mean of the last layer's token vectors, padding left out", "a masked mean"),
    "cls": ("the last layer's [CLS] vector", "the [CLS] vector without the pooler"),
    "pooler": ("BERT's pooler output (a tanh layer on [CLS])", "the pooler output"),
}


def base_model(model: str) -> str | None:
    """The Hub id ``finetune_teacher.model`` stands for: the MiniLM package's model, or the id
    itself; None for a local folder (the card names no path of the machine it was made on)."""
    if model == MINILM_PACKAGE:
        return MINILM_HUB_ID
    return model if HUB_ID.fullmatch(model) and not Path(model).exists() else None


def wilson_interval(accuracy: float, texts: int) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy on ``texts`` texts."""
    interval = binomtest(round(accuracy * texts), texts).proportion_ci(0.95, method="wilson")
    return interval.low, interval.high


def truncation_text(params: TeacherParams) -> tuple[str, str]:
    """How a long text is cut: the card's sentence, and its short form."""
    budget = params.max_len - 2
    if params.truncation == "head":
        return f"its first {budget} tokens", "at its head"
    if params.truncation == "tail":
        return f"its last {budget} tokens", "at its tail"
    head = min(params.head_tokens, budget)
    return (
        f"head+tail (Sun et al. 2019): its first {head} and last {budget - head} tokens; "
        f"a sentence pair is cut longest-first",
        "to its head and tail",
    )


def card_text(
    encoder: Mapping,
    params: TeacherParams,
    metrics: Mapping,
    seed: int,
    dataset: str,
    classes: Sequence[str],
) -> str:
    """The card of a teacher whose encoder config (``config.json``) is ``encoder``."""
    missing = [key for key in METRICS if key not in metrics]
    if missing:
        raise UserError(
            f"the teacher's metrics lack {', '.join(missing)}: pass the finetune_teacher stage's "
            f"metrics (metrics/teacher.json; validation_size is prepare's, metrics/prepare.json)"
        )
    base = base_model(params.model)
    license_ = BASE_LICENSES.get(base or "")
    card_data = ModelCardData(
        base_model=base,
        pipeline_tag="text-classification",
        datasets=[HUB_DATASETS.get(dataset, dataset)],
        metrics=["accuracy"],
        library_name="bertdistill",
        tags=["bert", "safetensors", "distillation-teacher"],
        language=["en"],
        license=license_,
    )
    hidden = encoder["hidden_size"]
    if len(classes) == 2:
        head = f"dropout {params.dropout}, Linear({hidden}, 1); its sigmoid is P({classes[1]})"
    else:
        head = (
            f"dropout {params.dropout}, Linear({hidden}, {len(classes)}); softmax over the classes"
        )
    truncation, truncation_short = truncation_text(params)
    if params.batch_tokens is None:
        batch = f"{params.batch_size} texts per optimiser step"
    else:
        batch = f"up to {params.batch_tokens:,} padded tokens per optimiser step"
    accuracy, validation = metrics["val_accuracy"], metrics["validation_size"]
    template = template_environment("bertdistill.teacher", html=False).get_template(
        "model_card.md.j2"
    )
    text = template.render(
        card_data=card_data.to_yaml(),
        title=f"{dataset} teacher: {base or 'a BERT encoder'} fine-tuned by bertdistill",
        base_name=f"`{base}`" if base else "a local BERT-style encoder",
        dataset=dataset,
        classes=list(classes),
        encoder=encoder,
        params=params,
        metrics=metrics,
        seed=seed,
        head=head,
        pooling=POOLING[params.pooling][0],
        pooling_short=POOLING[params.pooling][1],
        truncation=truncation,
        truncation_short=truncation_short,
        batch=batch,
        correct=round(accuracy * validation),
        interval=wilson_interval(accuracy, validation),
        license=license_,
    )
    return ModelCard(text, ignore_metadata_errors=False).content  # a malformed header fails here


def write_model_card(
    folder: str | Path,
    params: TeacherParams,
    metrics: Mapping,
    seed: int,
    dataset: str = "IMDB",
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> Path:
    """Write ``README.md``, the model card, into the saved teacher ``folder`` and return its
    path. ``params`` is the ``finetune_teacher`` section, ``metrics`` the stage's metrics
    (``metrics/teacher.json``: val_accuracy, validation_size, best_epoch, train_size,
    parameters), ``seed`` the one it trained with (``finetune_teacher.seed``, else the project's
    ``seed``), ``dataset`` and ``classes`` ``prepare``'s.

    The stage writes it; a teacher saved without a card gets one without retraining, from the
    project root (a metrics file without validation_size takes prepare's)::

        from bertdistill.core.files import read_json
        from bertdistill.core.params import ClassesParams, DatasetNameParams, TeacherParams
        from bertdistill.core.params_file import load_params, load_section
        from bertdistill.teacher.model_card import write_model_card

        params = load_params("params.yaml")
        teacher = load_section(params, "finetune_teacher", TeacherParams)
        metrics = read_json("metrics/teacher.json")
        metrics.setdefault("validation_size", read_json("metrics/prepare.json")["validation_size"])
        write_model_card(
            "models/teacher",
            teacher,
            metrics,
            seed=params["seed"] if teacher.seed is None else teacher.seed,
            dataset=load_section(params, "prepare", DatasetNameParams, only=True).dataset,
            classes=load_section(params, "prepare", ClassesParams, only=True).names,
        )
    """
    folder = Path(folder)
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise UserError(
            f"{folder} is not a saved teacher (no {CONFIG_FILE}): run `dvc repro finetune_teacher`"
        )
    encoder = json.loads(config.read_text(encoding="utf-8"))
    text = card_text(encoder, params, metrics, seed, dataset, classes)
    write_text(folder / CARD_FILE, text)
    return folder / CARD_FILE
