"""The ``explain_teacher`` stage's run: the teacher's logits, attributions, ERASER measures and
deletion logits on the chosen test reviews (what they are:
:mod:`bertdistill.explain.teacher_outputs`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bertdistill.core.params import (
    BatchingParams,
    InferenceParams,
    TeacherExplainParams,
    own_fields,
)
from bertdistill.core.registry import TEACHER
from bertdistill.core.tables import frame_texts, logit_columns
from bertdistill.core.texts import WORD, Text
from bertdistill.explain.attributions import Attribution
from bertdistill.explain.erasure import deletion_texts, eraser_values, random_floor_values
from bertdistill.explain.lime_explainer import explain_reviews, lime_attribution
from bertdistill.explain.teacher_attributions import (
    guided_occlusion,
    integrated_gradients,
    occlusion,
)
from bertdistill.explain.teacher_outputs import (
    IG_METHOD,
    RANDOM,
    TEACHER_METHOD,
    TeacherExplanations,
    texts_frame,
)
from bertdistill.teacher.distributed import SINGLE, Workers
from bertdistill.teacher.inference import Teacher

logger = logging.getLogger(__name__)


@dataclass
class RememberingTeacher(Teacher):
    """A teacher that scores each distinct text once: the stage's perturbed texts repeat (a
    guided occlusion variant is also a full occlusion variant; ERASER's one-word
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


def choose_reviews(test_frame: pd.DataFrame, num_reviews: int, seed: int) -> pd.DataFrame:
    """``num_reviews`` rows drawn at random (all if there are fewer), kept in file order; a text
    without a word has nothing to explain and is never drawn."""
    worded = test_frame[test_frame["text"].map(lambda text: WORD.search(text) is not None)]
    if len(worded) < len(test_frame):
        logger.info("%d test texts hold no word: not explained", len(test_frame) - len(worded))
    rng = np.random.default_rng(seed)
    count = min(num_reviews, len(worded))
    return worded.iloc[np.sort(rng.choice(len(worded), count, replace=False))]


def attribute_teacher(
    reviews: pd.DataFrame,
    teacher: Teacher,
    gradient_teacher: Teacher,
    logits: np.ndarray,
    targets: np.ndarray | None,
    inference: InferenceParams,
    config: TeacherExplainParams,
    seed: int,
) -> dict[str, list[Attribution]]:
    """The teacher's attributions on ``reviews``, whose logits are ``logits``, the reference
    first (the report colours reviews by it); ``gradient_teacher`` is the teacher Integrated
    Gradients differentiates, an fp32 copy where ``teacher`` labels at int8. With K classes,
    of class ``targets[review]``, the one the teacher predicts."""
    texts = frame_texts(reviews)
    occluded = config.occlusion_reviews
    gradients = [
        integrated_gradients(
            gradient_teacher,
            text,
            config.ig_steps,
            inference.batch_tokens,
            None if targets is None else int(targets[position]),
        )
        for position, text in enumerate(tqdm(texts, desc="Integrated Gradients", unit="review"))
    ]
    guided = guided_occlusion(
        teacher, texts, logits, gradients, config.guided_share, inference, targets
    )
    occluded_only = occlusion(
        teacher, texts[:occluded], logits[:occluded], inference, targets=targets
    )
    lime_records = explain_reviews(
        reviews.iloc[: config.lime_reviews],
        {TEACHER: teacher.proba_function(inference)},
        config.num_samples,
        seed,
        targets=None if targets is None else targets[: config.lime_reviews],
    )
    lime = [
        lime_attribution(record["models"][TEACHER]["words"], record["text"])
        for record in lime_records
    ]
    return {TEACHER_METHOD: guided, IG_METHOD: gradients, "occlusion": occluded_only, "lime": lime}


def explain_teacher(
    reviews: pd.DataFrame,
    teacher: Teacher,
    gradient_teacher: Teacher,
    inference: InferenceParams,
    config: TeacherExplainParams,
    seed: int,
) -> TeacherExplanations:
    """Everything the teacher contributes to the explanations of ``reviews`` (see the module).
    The teacher scores each distinct text once (its perturbed texts repeat across explainers);
    it is asked in the same order for every run, which fixes its figures."""
    texts = frame_texts(reviews)
    teacher = remembering(teacher)

    def logits_of(batch: Sequence[Text]) -> np.ndarray:
        return teacher.logits(batch, inference, progress=False)

    logits = np.asarray(logits_of(texts))
    targets = logits.argmax(axis=1) if logits.ndim == 2 else None
    attributions = attribute_teacher(
        reviews, teacher, gradient_teacher, logits, targets, inference, config, seed
    )
    logger.info("ERASER: the teacher re-scored on its explainers' perturbed reviews")
    eraser = {RANDOM: random_floor_values(texts, logits_of, logits, seed, targets)}
    eraser |= {
        method: eraser_values(texts, logits_of, logits, items, seed, targets)
        for method, items in attributions.items()
        if items
    }
    logger.info("deletions: %d random deletions per review", config.deletions)
    deleted = deletion_texts(texts, config.deletions, config.deletion_share, seed)
    deleted_logits = np.asarray(logits_of(deleted))
    logger.info("the teacher scored %d distinct texts", len(teacher.memo))
    return TeacherExplanations(
        reviews=reviews.reset_index(drop=True).assign(**logit_columns(logits)),
        deleted=texts_frame(deleted).assign(**logit_columns(deleted_logits)),
        attributions=attributions,
        eraser=eraser,
        settings=own_fields(config, TeacherExplainParams),
        spec=dataclasses.asdict(teacher.spec),
    )
