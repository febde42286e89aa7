"""Typed, validated views of ``params.yaml``: one frozen pydantic model per section, read with
:func:`bertdistill.core.params_file.load_section` (which words pydantic's complaints as one line
naming the key). Ranges and choices are declared on the fields; a rule across keys is a
``model_validator`` raising ``UserError``."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from bertdistill.core.errors import UserError
from bertdistill.core.param_types import (
    Budgets,
    Classes,
    FloatCandidates,
    IntCandidates,
    JobCount,
    Name,
    Resamples,
    Section,
)

SENTIMENT_CLASSES = ("negative", "positive")  # the binary default's classes, in id order


class PrepareParams(Section):
    source: str
    dataset: Name
    train_size: int = Field(gt=0)
    val_size: int = Field(gt=0)
    test_size: int | None = Field(gt=0)  # None: the whole test split
    unlabeled_size: int | None = Field(ge=0)  # None: the whole unlabelled pool
    min_chars: int = Field(default=1, ge=0)
    drop_test_duplicates: bool = False
    text_column: Name = "text"
    label_column: Name = "label"
    pair_column: Name | None = None  # a second text (sentence pairs: SNLI's hypothesis)
    classes: Classes | None = None  # class names in id order; None: negative/positive
    train_split: Name | None = None  # table stem of the labelled pool; None: train
    test_split: Name | None = None  # None: test
    unlabeled_split: Name | None = None  # None: unsup; train_split's: what train+validation leave

    @model_validator(mode="after")
    def _distinct_sources(self) -> PrepareParams:
        columns = {"text_column": self.text_column, "label_column": self.label_column}
        if self.pair_column is not None:
            columns["pair_column"] = self.pair_column
        for (key, name), (other, other_name) in itertools.combinations(columns.items(), 2):
            if name == other_name:
                raise UserError(
                    f"params keys 'prepare.{key}' and 'prepare.{other}' are both {name!r}: "
                    f"each names its own column"
                )
        if self.files["test"] == self.files["train"]:
            raise UserError(
                f"params keys 'prepare.train_split' and 'prepare.test_split' both name "
                f"{self.files['train']!r}: test on a file the labelled pool does not come from"
            )
        return self

    @property
    def files(self) -> dict[str, str]:
        """The table stem of each split (train, test, unsup): the split's name where unset."""
        stems = {"train": self.train_split, "test": self.test_split, "unsup": self.unlabeled_split}
        return {split: stem or split for split, stem in stems.items()}


class BatchingParams(Section):
    """How the teacher's forward passes are batched: fine-tuning's validation reads only these."""

    batch_tokens: int = Field(gt=0)
    max_batch_size: int = Field(gt=0)


class InferenceParams(BatchingParams):
    precision: Literal["fp32", "bf16", "int8", "onnx_int8"]


class TeacherParams(Section):
    model: str
    pooling: Literal["pooler", "cls", "mean"]
    max_len: int = Field(ge=8)
    truncation: Literal["head", "tail", "head_tail"]
    head_tokens: int = Field(ge=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    micro_batch_tokens: int = Field(gt=0)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_ratio: float = Field(ge=0, lt=1)
    dropout: float = Field(ge=0, lt=1)
    max_grad_norm: float = Field(ge=0)
    length_group_size: int = Field(gt=0)
    precision: Literal["fp32", "bf16"]
    freeze_word_embeddings: bool
    batch_tokens: int | None = None
    seed: int | None = Field(default=None, ge=0)  # the teacher's own seed; None: the project's

    @model_validator(mode="after")
    def _room_for_a_review(self) -> TeacherParams:
        if self.batch_tokens is not None and self.batch_tokens < self.max_len:
            raise UserError(
                f"finetune_teacher.batch_tokens={self.batch_tokens} cannot hold one {self.max_len}-"
                f"token review: use at least max_len, or null for a fixed batch_size"
            )
        if self.truncation == "head_tail" and self.head_tokens > self.max_len - 2:
            raise UserError(
                f"finetune_teacher.head_tokens={self.head_tokens} leaves no room for the tail: "
                f"use at most max_len - 2 = {self.max_len - 2}"
            )
        return self


class ClassesParams(Section):
    """The one key of ``prepare`` the later stages need: the class names (None: the binary
    default's negative/positive)."""

    classes: Classes | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return self.classes or SENTIMENT_CLASSES


class TaskParams(ClassesParams):
    """What ``predict`` reads of ``prepare``: the class names and whether texts are pairs."""

    pair_column: str | None = None


class TeacherNameParams(Section):
    """The one key of ``finetune_teacher`` a report needs: which model the teacher is."""

    model: str


class AugmentParams(Section):
    """Synthetic variants of the labelled reviews for the transfer set (Tang et al. 2019)."""

    n_augment: int = Field(ge=0)
    p_mask: float = Field(ge=0, le=1)
    p_ng: float = Field(ge=0, le=1)


class TfidfParams(Section):
    ngram_max: int = Field(gt=0)
    min_df: int = Field(gt=0)
    max_df: float = Field(gt=0, le=1)
    max_features: int | None
    sublinear_tf: bool


class StudentFitParams(Section):
    """The ``distill_students`` keys a student's fit reads once the texts are features: the
    targets, the hyperparameter grids, the pool's size and the worker count (the featuriser's
    keys and the seed count aside). The ``size_frontier`` stage's re-fits read these alone."""

    target: Literal["logits", "probabilities"]
    temperature: float = Field(gt=0)
    gold_alpha: float = Field(ge=0, le=1)
    lr_C: FloatCandidates
    ridge_alpha: FloatCandidates
    svm_C: FloatCandidates
    svr_C: FloatCandidates
    svr_epsilon: float = Field(ge=0)
    tree_max_depth: IntCandidates
    tree_min_samples_leaf: IntCandidates
    max_iter: int = Field(gt=0)
    unlabeled_limit: int | None = Field(ge=0)
    n_jobs: JobCount


class StudentParams(StudentFitParams):
    """Student settings. Hyperparameters are candidate lists: each candidate is fitted and the
    one with the best validation accuracy is kept (a single value means no search)."""

    tfidf: TfidfParams
    seeds: int = Field(gt=0)


class FrontierParams(Section):
    """Accuracy at a size a person can read (stage ``size_frontier``): the budgets, the L1 path
    that picks a linear student's n-grams, and what the report prints whole."""

    weight_budgets: Budgets
    leaf_budgets: Budgets
    path_steps_per_decade: int = Field(gt=0)
    path_points: int = Field(gt=0)
    path_candidates: int = Field(gt=0)
    shown_weights: IntCandidates
    shown_leaves: int = Field(gt=0)
    bootstrap_resamples: Resamples

    @model_validator(mode="after")
    def _shown_are_budgets(self) -> FrontierParams:
        for key, shown, budgets in (
            ("shown_weights", self.shown_weights, "weight_budgets"),
            ("shown_leaves", (self.shown_leaves,), "leaf_budgets"),
        ):
            missing = sorted(set(shown) - set(getattr(self, budgets)))
            if missing:
                raise UserError(
                    f"params key 'size_frontier.{key}' names {missing}, which "
                    f"size_frontier.{budgets} does not list: the report prints fitted models "
                    f"only, add them there or remove them here"
                )
        return self


class DatasetNameParams(Section):
    """``prepare.dataset``: the name reports give the data (the paper's figures are IMDB's)."""

    dataset: str


class EvaluateParams(Section):
    throughput_texts: int = Field(gt=0)
    throughput_repeats: int = Field(gt=0)
    bootstrap_resamples: Resamples


class TeacherExplainParams(Section):
    """The ``explain`` keys the teacher's explanations depend on (stage ``explain_teacher``):
    which reviews, how the teacher is attributed, the LIME samples and the deletions every model
    is measured on."""

    num_reviews: int = Field(gt=0)
    ig_steps: int = Field(gt=0)
    guided_share: float = Field(gt=0, le=1)
    occlusion_reviews: int = Field(ge=0)
    lime_reviews: int = Field(ge=0)
    num_samples: int = Field(gt=0)
    deletions: int = Field(gt=0)
    deletion_share: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _subsets_of_the_reviews(self) -> TeacherExplainParams:
        for key in ("occlusion_reviews", "lime_reviews"):
            if getattr(self, key) > self.num_reviews:
                raise UserError(
                    f"params key 'explain.{key}' is {getattr(self, key)}, more than "
                    f"explain.num_reviews ({self.num_reviews}): they are a subset of those "
                    f"reviews, lower it"
                )
        return self


class ExplainMeasureParams(Section):
    """The ``explain`` keys only the students' side and the report read (stage ``explain``):
    changing them leaves the teacher's explanations alone."""

    num_features: int = Field(gt=0)
    top_k: int = Field(gt=0)
    bootstrap_resamples: Resamples
    min_interval_reviews: int = Field(gt=0)


def own_fields(section: BaseModel, part: type[BaseModel]) -> dict:
    """The values of ``section`` (a params model, perhaps a whole section) that ``part``
    declares: what a stage that reads only that part records."""
    return {name: getattr(section, name) for name in part.model_fields}


class ExplainParams(TeacherExplainParams, ExplainMeasureParams):
    """The whole ``explain`` section (``predict --explain`` reads it, as do the checks that
    span both halves)."""

    @model_validator(mode="after")
    def _enough_reviews(self) -> ExplainParams:
        enough_reviews(self.num_reviews, self.min_interval_reviews)
        return self


def enough_reviews(reviews: int, min_interval_reviews: int, source: str | None = None) -> None:
    """The agreement figures need intervals: at least ``explain.min_interval_reviews`` reviews,
    counted by ``explain.num_reviews`` or, with ``source``, in the teacher's explanations there
    (a test split may hold fewer usable reviews than asked for)."""
    if reviews >= min_interval_reviews:
        return
    if source is None:
        raise UserError(
            f"params key 'explain.num_reviews' is {reviews}, fewer than "
            f"explain.min_interval_reviews ({min_interval_reviews}): the agreement "
            "figures need intervals, raise it"
        )
    raise UserError(
        f"{source} explains {reviews} reviews, fewer than explain.min_interval_reviews "
        f"({min_interval_reviews}): the agreement figures need intervals; lower "
        "explain.min_interval_reviews, or explain more reviews (explain.num_reviews, a larger test "
        "split)"
    )
