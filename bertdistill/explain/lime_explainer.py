"""LIME (Ribeiro et al. 2016) on texts and sentence pairs: one seeded explanation of any
classifier's probability, every classifier on the same perturbed texts of a review, and LIME's
weights as an :class:`~bertdistill.explain.attributions.Attribution` over the review's words."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from lime.lime_text import LimeTextExplainer
from tqdm.auto import tqdm

from bertdistill.core.tables import frame_texts
from bertdistill.core.texts import WORD, Text, text_parts
from bertdistill.explain.attributions import Attribution, review_words
from bertdistill.students.pair_features import SIDES

Proba = Callable[[Sequence[Text]], np.ndarray]


def explain(
    proba: Proba,
    text: Text,
    num_features: int,
    num_samples: int,
    seed: int,
    label: int = 1,
) -> list[tuple[str, float]]:
    """One LIME explanation of class ``label``'s probability (the positive class's for two
    classes), its words strongest first, with its own seeded explainer, so it does not depend
    on call order. A sentence pair is explained as one text of its side-prefixed words
    (``p_<word>``, ``h_<word>``), each perturbed text read back into a pair for the model."""
    explainer = LimeTextExplainer(random_state=seed)
    if isinstance(text, str):
        classify, shown = proba, text
    else:
        shown = " ".join(side + match.group() for side, part in zip(SIDES, text, strict=True)
                         for match in WORD.finditer(part))  # fmt: skip

        def classify(texts: Sequence[str]) -> np.ndarray:
            return proba([_as_pair(joined) for joined in texts])

    result = explainer.explain_instance(
        shown, classify, labels=(label,), num_features=num_features, num_samples=num_samples
    )
    return [(word, round(float(weight), 6)) for word, weight in result.as_list(label=label)]


def _as_pair(joined: str) -> tuple[str, str]:
    """A text of side-prefixed words back as (premise, hypothesis)."""
    tokens = joined.split()
    return tuple(  # type: ignore[return-value]
        " ".join(token.removeprefix(side) for token in tokens if token.startswith(side))
        for side in SIDES
    )


def explain_reviews(
    reviews: pd.DataFrame,
    classifiers: dict[str, Proba],
    num_samples: int,
    seed: int,
    progress: bool = True,
    targets: Sequence[int] | None = None,
) -> list[dict]:
    """One record per review (id, label, text) with every classifier's LIME explanation over
    all the review's words, strongest first (LIME weighs each word in one fit, so its
    faithfulness is measured on the full ranking; the report shows the top few); with K
    classes, of class ``targets[review]``."""
    records = []
    total = len(reviews) * len(classifiers)
    with tqdm(total=total, desc="LIME", unit="explanation", disable=not progress) as bar:
        for position, text in enumerate(frame_texts(reviews)):
            models = {}
            # LIME tells spellings apart: all occurrences bound its distinct features
            every_word = sum(len(WORD.findall(part)) for part in text_parts(text))
            label = 1 if targets is None else int(targets[position])
            for name, proba in classifiers.items():
                # One seed per review, shared by all models: each sees the same perturbed texts.
                words = explain(proba, text, every_word, num_samples, seed + position, label)
                models[name] = {"words": words}
                bar.update(1)
            row = reviews.iloc[position]
            records.append(
                {"id": row["id"], "label": int(row["label"]), "text": text, "models": models}
            )
    return records


def lime_attribution(words: list[tuple[str, float]], text: Text) -> Attribution:
    """LIME's weights as an attribution over the review's words: LIME tells case apart and this
    does not, so the weights of one word's spellings add up; words LIME left out weigh 0."""
    result = dict.fromkeys(review_words(text), 0.0)
    for word, weight in words:
        result[word.lower()] = result.get(word.lower(), 0.0) + weight
    return Attribution(result)
