"""Transfer-set augmentation after Tang et al. 2019 ("Distilling task-specific knowledge from
BERT into simple neural networks", castorini/d-bert): synthetic variants of each source review
that the teacher labels like any other text.

Each variant masks every word independently with probability ``p_mask`` (the word becomes the
teacher tokenizer's mask token), then, with probability ``p_ng``, keeps only a random window of
n words, n drawn uniformly from 1 to 5. Words are whitespace-separated tokens, so punctuation
stays attached as in the source. A sentence pair is perturbed as Tang et al. did for pair tasks:
both sentences are masked word by word, and the window, when drawn, cuts one of the two (each
as likely), so the variant stays a pair.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bertdistill.core.params import AugmentParams
from bertdistill.core.tables import PAIR
from bertdistill.core.texts import Text
from bertdistill.students.pair_features import student_text

MAX_NGRAM = 5
_SUFFIX = "-aug"


def augment_reviews(
    ids: Sequence[str], texts: Sequence[Text], params: AugmentParams, mask_token: str, seed: int
) -> pd.DataFrame:
    """``params.n_augment`` variants of every source text, as a frame of ``id`` (the source id
    plus ``-aug<k>``), ``source_id`` and ``text`` (and ``text_pair`` for sentence pairs);
    variants are ordered by round, then source.

    The same inputs and seed give the same variants; a different seed gives different ones.
    """
    rng = np.random.default_rng([seed, 0xA06])
    pairs = bool(texts) and not isinstance(texts[0], str)
    rows = {"id": [], "source_id": [], "text": [], **({PAIR: []} if pairs else {})}
    for round_index in range(params.n_augment):
        for source_id, text in zip(ids, texts, strict=True):
            rows["id"].append(f"{source_id}{_SUFFIX}{round_index}")
            rows["source_id"].append(source_id)
            if pairs:
                premise, hypothesis = augment_pair(text, params, mask_token, rng)
                rows["text"].append(premise)
                rows[PAIR].append(hypothesis)
            else:
                rows["text"].append(augment_text(text, params, mask_token, rng))
    return pd.DataFrame({column: pd.Series(values, dtype=str) for column, values in rows.items()})


def augment_pair(
    pair: tuple[str, str], params: AugmentParams, mask_token: str, rng: np.random.Generator
) -> tuple[str, str]:
    """One synthetic variant of a sentence pair (see the module docstring)."""
    windowed = int(rng.integers(0, 2))  # the side a window, if drawn, cuts
    return tuple(  # type: ignore[return-value]
        augment_text(part, params, mask_token, rng, window=side == windowed)
        for side, part in enumerate(pair)
    )


def augment_text(
    text: str,
    params: AugmentParams,
    mask_token: str,
    rng: np.random.Generator,
    window: bool = True,
) -> str:
    """One synthetic variant of ``text`` (see the module docstring); ``window``: whether a
    window may be drawn (a pair's other side is masked only)."""
    words = text.split()
    masked = rng.random(len(words)) < params.p_mask
    words = [mask_token if hide else word for word, hide in zip(words, masked, strict=True)]
    if window and words and rng.random() < params.p_ng:
        n = int(rng.integers(1, MAX_NGRAM + 1))
        start = int(rng.integers(0, max(len(words) - n, 0) + 1))
        words = words[start : start + n]
    return " ".join(words)


def student_view(variants: pd.DataFrame, mask_token: str) -> pd.Series:
    """Variants as the students see them: a masked word is simply absent from a bag of n-grams;
    a pair as its student text (:func:`bertdistill.students.pair_features.student_text`)."""
    texts = variants["text"].str.replace(mask_token, " ", regex=False)
    if PAIR not in variants.columns:
        return texts
    hypotheses = variants[PAIR].str.replace(mask_token, " ", regex=False)
    pairs = zip(texts, hypotheses, strict=True)
    return pd.Series([student_text(pair) for pair in pairs], index=variants.index, dtype=str)
