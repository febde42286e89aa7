"""Typed, validated views of ``params.yaml``: one frozen dataclass per section (read with
:func:`bertdistill.core.params_file.load_section`)."""

from __future__ import annotations

import dataclasses
import itertools

from bertdistill.core.errors import UserError

MIN_RESAMPLES = 1000  # fewer leave the 2.5% tails of a bootstrap to a handful of resamples
SENTIMENT_CLASSES = ("negative", "positive")  # the binary default's classes, in id order


@dataclasses.dataclass(frozen=True)
class PrepareParams:
    source: str
    dataset: str
    train_size: int
    val_size: int
    test_size: int | None
    unlabeled_size: int
    min_chars: int = 1
    drop_test_duplicates: bool = False
    text_column: str = "text"
    label_column: str = "label"
    pair_column: str | None = None  # a second text (sentence pairs: SNLI's hypothesis)
    classes: tuple[str, ...] | None = None  # class names in id order; None: negative/positive
    train_split: str | None = None  # table stem of the labelled pool; None: train
    test_split: str | None = None  # None: test
    unlabeled_split: str | None = None  # None: unsup; train_split's: what train+validation leave

    def __post_init__(self) -> None:
        _positive("prepare", train_size=self.train_size, val_size=self.val_size)
        _non_negative("prepare", unlabeled_size=self.unlabeled_size, min_chars=self.min_chars)
        if self.test_size is not None:
            _positive("prepare", test_size=self.test_size)
        keys = ["dataset", "text_column", "label_column"]
        optional = ["pair_column", "train_split", "test_split", "unlabeled_split"]
        keys += [key for key in optional if getattr(self, key) is not None]
        for key in keys:
            if not getattr(self, key).strip():
                raise UserError(f"params key 'prepare.{key}' must not be empty")
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
        if self.classes is not None and (
            len(self.classes) < 2
            or len({name.strip().lower() for name in self.classes}) < len(self.classes)
            or not all(name.strip() for name in self.classes)
        ):
            raise UserError(
                f"params key 'prepare.classes' is {list(self.classes)}: list two or more "
                f"distinct class names in id order, or leave it empty for negative/positive"
            )

    @property
    def files(self) -> dict[str, str]:
        """The table stem of each split (train, test, unsup): the split's name where unset."""
        stems = (self.train_split, self.test_split, self.unlabeled_split)
        return {
            split: stem or split
            for split, stem in zip(("train", "test", "unsup"), stems, strict=True)
        }


@dataclasses.dataclass(frozen=True)
class BatchingParams:
    """How the teacher's forward passes are batched: fine-tuning's validation reads only these."""

    batch_tokens: int
    max_batch_size: int

    def __post_init__(self) -> None:
        _positive("inference", batch_tokens=self.batch_tokens, max_batch_size=self.max_batch_size)


@dataclasses.dataclass(frozen=True)
class InferenceParams(BatchingParams):
    precision: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice("inference", "precision", self.precision, ("fp32", "bf16", "int8", "onnx_int8"))


@dataclasses.dataclass(frozen=True)
class TeacherParams:
    model: str
    pooling: str
    max_len: int
    truncation: str
    head_tokens: int
    epochs: int
    batch_size: int
    micro_batch_tokens: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    dropout: float
    max_grad_norm: float
    length_group_size: int
    precision: str
    freeze_word_embeddings: bool
    batch_tokens: int | None = None
    seed: int | None = None  # the teacher's own seed; None: the project's seed

    def __post_init__(self) -> None:
        _choice("finetune_teacher", "pooling", self.pooling, ("pooler", "cls", "mean"))
        _choice("finetune_teacher", "precision", self.precision, ("fp32", "bf16"))
        _choice("finetune_teacher", "truncation", self.truncation, ("head", "tail", "head_tail"))
        _positive(
            "finetune_teacher",
            max_len=self.max_len,
            epochs=self.epochs,
            batch_size=self.batch_size,
            micro_batch_tokens=self.micro_batch_tokens,
            lr=self.lr,
            length_group_size=self.length_group_size,
        )
        _non_negative(
            "finetune_teacher",
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            head_tokens=self.head_tokens,
        )
        if self.seed is not None:
            _non_negative("finetune_teacher", seed=self.seed)
        if self.batch_tokens is not None and self.batch_tokens < self.max_len:
            raise UserError(
                f"finetune_teacher.batch_tokens={self.batch_tokens} cannot hold one {self.max_len}-"
                f"token review: use at least max_len, or null for a fixed batch_size"
            )
        if self.max_len < 8:
            raise UserError(f"finetune_teacher.max_len={self.max_len} is too small: use 8 or more")
        if self.truncation == "head_tail" and self.head_tokens > self.max_len - 2:
            raise UserError(
                f"finetune_teacher.head_tokens={self.head_tokens} leaves no room for the tail: "
                f"use at most max_len - 2 = {self.max_len - 2}"
            )
        if not 0 <= self.warmup_ratio < 1:
            raise UserError(f"finetune_teacher.warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if not 0 <= self.dropout < 1:
            raise UserError(f"finetune_teacher.dropout={self.dropout} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class ClassesParams:
    """The one key of ``prepare`` the later stages need: the class names (None: the binary
    default's negative/positive)."""

    classes: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return self.classes or SENTIMENT_CLASSES


@dataclasses.dataclass(frozen=True)
class TaskParams(ClassesParams):
    """What ``predict`` reads of ``prepare``: the class names and whether texts are pairs."""

    pair_column: str | None = None


@dataclasses.dataclass(frozen=True)
class TeacherNameParams:
    """The one key of ``finetune_teacher`` a report needs: which model the teacher is."""

    model: str


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Synthetic variants of the labelled reviews for the transfer set (Tang et al. 2019)."""

    n_augment: int
    p_mask: float
    p_ng: float

    def __post_init__(self) -> None:
        _non_negative("augment", n_augment=self.n_augment)
        _probability("augment", p_mask=self.p_mask, p_ng=self.p_ng)


@dataclasses.dataclass(frozen=True)
class TfidfParams:
    ngram_max: int
    min_df: int
    max_df: float
    max_features: int | None
    sublinear_tf: bool

    def __post_init__(self) -> None:
        _positive("distill_students.tfidf", ngram_max=self.ngram_max, min_df=self.min_df)
        if not 0 < self.max_df <= 1:
            raise UserError(f"distill_students.tfidf.max_df={self.max_df} must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class StudentParams:
    """Student settings. Hyperparameters are candidate lists: each candidate is fitted and the
    one with the best validation accuracy is kept (a single value means no search)."""

    tfidf: TfidfParams
    target: str
    temperature: float
    gold_alpha: float
    lr_C: tuple[float, ...]
    ridge_alpha: tuple[float, ...]
    svm_C: tuple[float, ...]
    svr_C: tuple[float, ...]
    svr_epsilon: float
    tree_max_depth: tuple[int, ...]
    tree_min_samples_leaf: tuple[int, ...]
    max_iter: int
    seeds: int
    unlabeled_limit: int | None
    n_jobs: int

    def __post_init__(self) -> None:
        _choice("distill_students", "target", self.target, ("logits", "probabilities"))
        lists = ("lr_C", "ridge_alpha", "svm_C", "svr_C", "tree_max_depth", "tree_min_samples_leaf")
        values = {f"{key}[{i}]": item for key in lists for i, item in enumerate(getattr(self, key))}
        _positive(
            "distill_students",
            temperature=self.temperature,
            max_iter=self.max_iter,
            seeds=self.seeds,
            **values,
        )
        _non_negative("distill_students", svr_epsilon=self.svr_epsilon)
        if self.unlabeled_limit is not None:
            _non_negative("distill_students", unlabeled_limit=self.unlabeled_limit)
        _probability("distill_students", gold_alpha=self.gold_alpha)
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise UserError(
                f"params key 'distill_students.n_jobs' is {self.n_jobs}: give a count of "
                "processes (1 or more), or -1 for one per core"
            )


@dataclasses.dataclass(frozen=True)
class DatasetNameParams:
    """``prepare.dataset``: the name reports give the data (the paper's figures are IMDB's)."""

    dataset: str


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    throughput_texts: int
    throughput_repeats: int
    bootstrap_resamples: int

    def __post_init__(self) -> None:
        _positive("evaluate", **dataclasses.asdict(self))
        _enough_resamples("evaluate", self.bootstrap_resamples)


@dataclasses.dataclass(frozen=True)
class TeacherExplainParams:
    """The ``explain`` keys the teacher's explanations depend on (stage ``explain_teacher``):
    which reviews, how the teacher is attributed, the LIME samples and the deletions every model
    is measured on."""

    num_reviews: int
    ig_steps: int
    guided_share: float
    occlusion_reviews: int
    lime_reviews: int
    num_samples: int
    deletions: int
    deletion_share: float

    def __post_init__(self) -> None:
        counts = own_fields(self, TeacherExplainParams)
        subsets = {key: counts.pop(key) for key in ("occlusion_reviews", "lime_reviews")}
        _positive("explain", **counts)
        _non_negative("explain", **subsets)
        _probability("explain", deletion_share=self.deletion_share, guided_share=self.guided_share)
        for key, value in subsets.items():
            if value > self.num_reviews:
                raise UserError(
                    f"params key 'explain.{key}' is {value}, more than explain.num_reviews "
                    f"({self.num_reviews}): they are a subset of those reviews, lower it"
                )


@dataclasses.dataclass(frozen=True)
class ExplainMeasureParams:
    """The ``explain`` keys only the students' side and the report read (stage ``explain``):
    changing them leaves the teacher's explanations alone."""

    num_features: int
    top_k: int
    bootstrap_resamples: int
    min_interval_reviews: int

    def __post_init__(self) -> None:
        _positive("explain", **own_fields(self, ExplainMeasureParams))
        _enough_resamples("explain", self.bootstrap_resamples)


def own_fields(section: object, part: type) -> dict:
    """The values of ``section`` (a params dataclass, perhaps a whole section) that ``part``
    declares: what that part validates, and what a stage that reads only it records."""
    return {field.name: getattr(section, field.name) for field in dataclasses.fields(part)}


@dataclasses.dataclass(frozen=True)
class ExplainParams(TeacherExplainParams, ExplainMeasureParams):
    """The whole ``explain`` section (``predict --explain`` reads it, as do the checks that
    span both halves)."""

    def __post_init__(self) -> None:
        TeacherExplainParams.__post_init__(self)
        ExplainMeasureParams.__post_init__(self)
        enough_reviews(self.num_reviews, self.min_interval_reviews)


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


def _enough_resamples(section: str, resamples: int) -> None:
    if resamples < MIN_RESAMPLES:
        raise UserError(
            f"params key '{section}.bootstrap_resamples' is {resamples}: a 95% percentile "
            f"interval needs at least {MIN_RESAMPLES:,} resamples, raise it"
        )


def _positive(section: str, **values: float) -> None:
    for key, value in values.items():
        if value <= 0:
            raise UserError(f"params key '{section}.{key}' must be positive, got {value}")


def _non_negative(section: str, **values: float) -> None:
    for key, value in values.items():
        if value < 0:
            raise UserError(f"params key '{section}.{key}' must not be negative, got {value}")


def _probability(section: str, **values: float) -> None:
    for key, value in values.items():
        if not 0 <= value <= 1:
            raise UserError(f"params key '{section}.{key}' must be in [0, 1], got {value}")


def _choice(section: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(
            f"params key '{section}.{key}' must be one of {', '.join(choices)}, got {value!r}"
        )
