"""The explain stage's work on its chosen test reviews: every model's word attributions (the
teacher's guided occlusion, its reference, and Integrated Gradients, which guides it, on all of
them, full occlusion and LIME on the first few; each
student's exact attribution on all, LIME on the first few), then how faithful each is (ERASER),
how alike each student explains to the teacher, and how alike it behaves under deletions."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bertdistill.attributions import Attribution, student_attribution
from bertdistill.config import BatchingParams, ExplainParams, InferenceParams
from bertdistill.distributed import SINGLE, Workers
from bertdistill.explain import explain_reviews, lime_attribution
from bertdistill.explanation_metrics import (
    GAP_KEY,
    IG_METHOD,
    STUDENT_METHOD,
    TEACHER_METHOD,
    agreement,
    deletion_changes,
    faithfulness,
    fidelity,
    flat_metrics,
)
from bertdistill.faithfulness import Logits
from bertdistill.inference import Teacher
from bertdistill.registry import STUDENT_NAMES, TEACHER
from bertdistill.students import Students
from bertdistill.tables import frame_texts
from bertdistill.teacher_attribution import (
    completeness_gap,
    guided_occlusion,
    integrated_gradients,
    occlusion,
)
from bertdistill.texts import Text

logger = logging.getLogger(__name__)

Attributions = dict[tuple[str, str], list[Attribution]]  # (model, explainer): one per review


@dataclass(frozen=True)
class Explained:
    """Each model's logit on each review, every (model, explainer)'s attributions (covering
    the first ``len(...)`` reviews) and the flat metrics."""

    original: dict[str, np.ndarray]
    attributions: Attributions
    metrics: dict[str, float]
    targets: np.ndarray | None = None  # K classes: the class explained per review


@dataclass
class RememberingTeacher(Teacher):
    """A teacher that scores each distinct text once: the explain stage's perturbed texts repeat
    (a guided occlusion variant is also a full occlusion variant; ERASER's one-word
    comprehensiveness text is an occlusion variant), and a repeat gets the logits already
    computed. A remembered logit is the one its first batch gave; in fp32 another batch could
    differ in the last bits (int8: more, its activations are quantised per batch), so the
    figures are fixed by the order of the calls, which is fixed."""

    memo: dict[Text, np.ndarray] = field(default_factory=dict)

    def logits(
        self,
        texts: Sequence[Text],
        params: BatchingParams,
        progress: bool = True,
        description: str = "predict",
        workers: Workers = SINGLE,
    ) -> np.ndarray:
        new = [text for text in dict.fromkeys(texts) if text not in self.memo]
        scored = super().logits(new, params, progress, description, workers)
        self.memo |= zip(new, scored, strict=True)
        return np.stack([self.memo[text] for text in texts]) if texts else scored


def remembering(teacher: Teacher) -> RememberingTeacher:
    """``teacher`` (the same model, not a copy), scoring each distinct text once from now on."""
    fields = {item.name: getattr(teacher, item.name) for item in dataclasses.fields(Teacher)}
    return RememberingTeacher(**fields)


def scorers(teacher: Teacher, students: Students, inference: InferenceParams) -> dict[str, Logits]:
    """Each model's logits on a batch of texts; the teacher's through the labelling path."""
    found: dict[str, Logits] = {
        TEACHER: lambda batch: teacher.logits(batch, inference, progress=False)
    }
    return found | {
        name: (lambda batch, n=name: students.logits(n, list(batch))) for name in STUDENT_NAMES
    }


def attribute(
    reviews: pd.DataFrame,
    teacher: Teacher,
    gradient_teacher: Teacher,
    students: Students,
    original: dict[str, np.ndarray],
    inference: InferenceParams,
    config: ExplainParams,
    seed: int,
    targets: np.ndarray | None = None,
) -> Attributions:
    """Every model's attributions on ``reviews`` (``gradient_teacher``: the teacher Integrated
    Gradients differentiates, an fp32 copy where ``teacher`` labels at int8); with K classes,
    of class ``targets[review]``."""
    texts = frame_texts(reviews)
    occluded = config.occlusion_reviews

    def target(position: int) -> int | None:
        return None if targets is None else int(targets[position])

    gradients = [
        integrated_gradients(
            gradient_teacher, text, config.ig_steps, inference.batch_tokens, target(position)
        )
        for position, text in enumerate(tqdm(texts, desc="Integrated Gradients", unit="review"))
    ]
    logits = original[TEACHER]
    attributions: Attributions = {  # the reference first: the report colours reviews by it
        (TEACHER, TEACHER_METHOD): guided_occlusion(
            teacher, texts, logits, gradients, config.guided_share, inference, targets
        ),
        (TEACHER, IG_METHOD): gradients,
        (TEACHER, "occlusion"): occlusion(
            teacher, texts[:occluded], logits[:occluded], inference, targets=targets
        ),
    }
    vocabulary = students.featurizer.get_feature_names_out()
    features = students.features(texts)
    for name in STUDENT_NAMES:
        model = students.models[name]
        attributions[(name, STUDENT_METHOD)] = [
            student_attribution(
                model, students.featurizer, vocabulary, text, features[position], target(position)
            )
            for position, text in enumerate(texts)
        ]
    classifiers = {TEACHER: teacher.proba_function(inference)}
    classifiers |= {name: students.proba_function(name) for name in STUDENT_NAMES}
    lime_records = explain_reviews(
        reviews.iloc[: config.lime_reviews],
        classifiers,
        config.num_samples,
        seed,
        targets=None if targets is None else targets[: config.lime_reviews],
    )
    for name in classifiers:
        attributions[(name, "lime")] = [
            lime_attribution(record["models"][name]["words"], record["text"])
            for record in lime_records
        ]
    return attributions


def measure(
    texts: list[Text],
    scoring: dict[str, Logits],
    original: dict[str, np.ndarray],
    attributions: Attributions,
    config: ExplainParams,
    seed: int,
    targets: np.ndarray | None = None,
) -> dict[str, float]:
    """The flat metrics of ``metrics/explain.json`` (see :mod:`bertdistill.explanation_metrics`)."""
    logger.info("ERASER: every model re-scored on its explainers' perturbed reviews")
    resamples = config.bootstrap_resamples
    faithful = faithfulness(
        texts,
        scoring,
        original,
        attributions,
        resamples,
        config.min_interval_reviews,
        seed,
        targets,
    )
    per_student, per_kind = agreement(
        {name: attributions[(name, STUDENT_METHOD)] for name in STUDENT_NAMES},
        attributions[(TEACHER, TEACHER_METHOD)],
        config.top_k,
        resamples,
        seed,
    )
    logger.info("deletion fidelity: %d random deletions per review", config.deletions)
    changes = deletion_changes(
        texts, scoring, original, config.deletions, config.deletion_share, seed, targets
    )
    deletion, deletion_diff = fidelity(changes, TEACHER, resamples, seed)
    for name in STUDENT_NAMES:
        per_student[name]["deletion_fidelity"] = deletion[name]
    for kind, interval in deletion_diff.items():
        per_kind[kind]["deletion_fidelity"] = interval
    metrics = flat_metrics(faithful, per_student, per_kind)
    gaps = [completeness_gap(item) for item in attributions[(TEACHER, IG_METHOD)]]
    metrics[GAP_KEY] = round(float(np.mean(np.abs(gaps))), 6)
    metrics["num_reviews"] = len(texts)
    return metrics


def explain_models(
    reviews: pd.DataFrame,
    teacher: Teacher,
    gradient_teacher: Teacher,
    students: Students,
    inference: InferenceParams,
    config: ExplainParams,
    seed: int,
) -> Explained:
    """Attribute every model on ``reviews``, then measure the attributions. With K classes
    every model explains the class the teacher predicts for the review. The teacher scores each
    distinct text once (its perturbed texts repeat across explainers)."""
    texts = frame_texts(reviews)
    teacher = remembering(teacher)
    scoring = scorers(teacher, students, inference)
    original = {name: np.asarray(score(texts)) for name, score in scoring.items()}
    targets = original[TEACHER].argmax(axis=1) if original[TEACHER].ndim == 2 else None
    attributions = attribute(
        reviews, teacher, gradient_teacher, students, original, inference, config, seed, targets
    )
    metrics = measure(texts, scoring, original, attributions, config, seed, targets)
    logger.info("the teacher scored %d distinct texts", len(teacher.memo))
    return Explained(original, attributions, metrics, targets)
