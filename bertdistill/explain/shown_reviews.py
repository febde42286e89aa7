"""The reviews the explain report shows, as records (``reports/explain/explanations.json``):
each model's probability and, per explainer, its word weights strongest first."""

from __future__ import annotations

import numpy as np

from bertdistill.core.logits import softmax
from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.tables import PAIR


def report_records(
    reviews, original, attributions, classes=SENTIMENT_CLASSES, targets=None
) -> list[dict]:
    """One record per shown review: each model's P(positive) (K classes: its probability of the
    class explained, ``targets[review]``, and the class names) and, per explainer that covers
    the review, its word weights strongest first; a sentence pair's texts as ``text`` and
    ``text_pair``."""
    records = []
    for position in range(len(reviews)):
        row = reviews.iloc[position]
        models = {}
        for (model, method), items in attributions.items():
            if position >= len(items):
                continue
            if targets is None:  # P(positive)
                logit = float(original[model][position])
                probability = round(1 / (1 + np.exp(-logit)), 6)
            else:  # P(the class explained)
                logits = np.asarray(original[model][position], dtype=np.float64)
                probability = round(float(softmax(logits[None])[0, targets[position]]), 6)
            entry = models.setdefault(model, {"probability": probability, "methods": {}})
            words = items[position].words
            ranked = sorted(words, key=lambda word: -abs(words[word]))
            entry["methods"][method] = [[word, round(words[word], 6)] for word in ranked]
        record = {"id": row["id"], "label": int(row["label"]), "text": row["text"]}
        if PAIR in reviews.columns:
            record[PAIR] = row[PAIR]
        if targets is not None:  # K classes: the names of the gold class and the one explained
            record["label_name"] = classes[int(row["label"])]
            record["explained"] = classes[int(targets[position])]
        records.append(record | {"models": models})
    return records
