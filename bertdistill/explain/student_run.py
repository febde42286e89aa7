"""The explain stage's work: the students' side of the explanations on the reviews the teacher's
were made on (:mod:`bertdistill.explain.teacher_outputs`): each student's exact attribution on all
of them, LIME on the first few, their faithfulness (ERASER) and, for every model, the
statistics: how faithful each explainer is, how alike each student explains to the teacher and
how alike it behaves under the same deletions, each with a 95% interval."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from bertdistill.core.params import ExplainMeasureParams
from bertdistill.core.registry import STUDENT_NAMES, TEACHER
from bertdistill.core.tables import frame_logits, frame_texts
from bertdistill.explain.attributions import Attribution, completeness_gap, student_attribution
from bertdistill.explain.erasure import eraser_values, logit_changes, random_floor_values
from bertdistill.explain.lime_explainer import explain_reviews, lime_attribution
from bertdistill.explain.measures import (
    GAP_KEY,
    IG_METHOD,
    STUDENT_METHOD,
    TEACHER_METHOD,
    Values,
    agreement,
    faithfulness,
    fidelity,
    flat_metrics,
)
from bertdistill.explain.teacher_outputs import RANDOM, TeacherExplanations
from bertdistill.students.models import Students

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


def attribute_students(
    teacher: TeacherExplanations,
    students: Students,
    seed: int,
) -> Attributions:
    """Every student's attributions on the teacher's reviews: exact on all, LIME on as many as
    the teacher's LIME covers, with its samples; with K classes, of the class the teacher
    predicts."""
    reviews, targets = teacher.reviews, teacher.targets
    texts = frame_texts(reviews)
    vocabulary = students.featurizer.get_feature_names_out()
    features = students.features(texts)
    attributions: Attributions = {}
    for name in STUDENT_NAMES:
        model = students.models[name]
        attributions[(name, STUDENT_METHOD)] = [
            student_attribution(
                model,
                students.featurizer,
                vocabulary,
                text,
                features[position],
                None if targets is None else int(targets[position]),
            )
            for position, text in enumerate(texts)
        ]
    lime_reviews = len(teacher.attributions["lime"])
    lime_records = explain_reviews(
        reviews.iloc[:lime_reviews],
        {name: students.proba_function(name) for name in STUDENT_NAMES},
        int(teacher.settings["num_samples"]),
        seed,
        targets=None if targets is None else targets[:lime_reviews],
    )
    for name in STUDENT_NAMES:
        attributions[(name, "lime")] = [
            lime_attribution(record["models"][name]["words"], record["text"])
            for record in lime_records
        ]
    return attributions


def measure(
    teacher: TeacherExplanations,
    students: Students,
    original: dict[str, np.ndarray],
    attributions: Attributions,
    config: ExplainMeasureParams,
    seed: int,
) -> dict[str, float]:
    """The flat metrics of ``metrics/explain.json`` (see :mod:`bertdistill.explain.measures`):
    the students re-scored on their own explainers' perturbed reviews and on the teacher's
    deletion texts, the teacher's measures as its stage stored them."""
    logger.info("ERASER: every student re-scored on its explainers' perturbed reviews")
    texts, targets = frame_texts(teacher.reviews), teacher.targets
    values: dict[tuple[str, str], Values] = {
        (TEACHER, method): found for method, found in teacher.eraser.items() if method != RANDOM
    }
    floor = {TEACHER: teacher.eraser[RANDOM]}
    for name in STUDENT_NAMES:

        def logits_of(batch, name=name):
            return students.logits(name, list(batch))

        floor[name] = random_floor_values(texts, logits_of, original[name], seed, targets)
        for (model, method), items in attributions.items():
            if model == name and items:
                values[(model, method)] = eraser_values(
                    texts, logits_of, original[name], items, seed, targets
                )
    resamples = config.bootstrap_resamples
    faithful = faithfulness(values, floor, resamples, config.min_interval_reviews, seed)
    per_student, per_kind = agreement(
        {name: attributions[(name, STUDENT_METHOD)] for name in STUDENT_NAMES},
        teacher.attributions[TEACHER_METHOD],
        config.top_k,
        resamples,
        seed,
    )
    deleted = frame_texts(teacher.deleted)
    count = len(deleted) // len(texts)
    logger.info("deletion fidelity: %d random deletions per review", count)
    changes = {
        TEACHER: logit_changes(frame_logits(teacher.deleted), original[TEACHER], count, targets)
    }
    changes |= {
        name: logit_changes(students.logits(name, deleted), original[name], count, targets)
        for name in STUDENT_NAMES
    }
    deletion, deletion_diff = fidelity(changes, TEACHER, resamples, seed)
    for name in STUDENT_NAMES:
        per_student[name]["deletion_fidelity"] = deletion[name]
    for kind, interval in deletion_diff.items():
        per_kind[kind]["deletion_fidelity"] = interval
    metrics = flat_metrics(faithful, per_student, per_kind)
    gaps = [completeness_gap(item) for item in teacher.attributions[IG_METHOD]]
    metrics[GAP_KEY] = round(float(np.mean(np.abs(gaps))), 6)
    metrics["num_reviews"] = len(texts)
    return metrics


def explain_models(
    teacher: TeacherExplanations,
    students: Students,
    config: ExplainMeasureParams,
    seed: int,
) -> Explained:
    """Attribute every student on the teacher's reviews, then measure every model's
    attributions. With K classes every model explains the class the teacher predicts."""
    texts = frame_texts(teacher.reviews)
    original = {TEACHER: teacher.logits}
    original |= {name: np.asarray(students.logits(name, texts)) for name in STUDENT_NAMES}
    attributions: Attributions = {
        (TEACHER, method): items for method, items in teacher.attributions.items()
    }
    attributions |= attribute_students(teacher, students, seed)
    metrics = measure(teacher, students, original, attributions, config, seed)
    return Explained(original, attributions, metrics, teacher.targets)
