"""Logits to classes and probabilities, shared by the teacher, the students and LIME."""

from __future__ import annotations

import numpy as np


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(values, dtype=np.float64)))


def two_class_proba(logits: np.ndarray) -> np.ndarray:
    """``[[p(negative), p(positive)], ...]`` from one logit per text, the shape LIME expects."""
    positive = sigmoid(logits)
    return np.column_stack([1 - positive, positive])


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def class_proba(logits: np.ndarray) -> np.ndarray:
    """Each text's class probabilities, one column per class: from one logit per text (two
    classes, the sigmoid) or a row of K logits (the softmax)."""
    logits = np.asarray(logits)
    return softmax(logits) if logits.ndim == 2 else two_class_proba(logits)


def predicted_classes(logits: np.ndarray) -> np.ndarray:
    """The class id each text's logits stand for: with one logit per text, above 0 means the
    positive class (1); with a row of K logits, the largest one's position."""
    logits = np.asarray(logits)
    return logits.argmax(axis=1) if logits.ndim == 2 else (logits > 0).astype(int)
