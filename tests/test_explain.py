import numpy as np
import pytest

from bertdistill.explain import explain, overlap, rank_correlation, top_words


def keyword_classifier(texts):
    """p(positive) rises with 'great' and falls with 'awful'."""
    scores = np.array([text.split().count("great") - text.split().count("awful") for text in texts])
    positive = 1 / (1 + np.exp(-scores))
    return np.column_stack([1 - positive, positive])


TEXT = "the plot was great and the acting was great but the ending was awful"


def test_lime_finds_the_words_the_classifier_uses_and_is_seeded():
    first = explain(keyword_classifier, TEXT, num_features=4, num_samples=300, seed=3)
    again = explain(keyword_classifier, TEXT, num_features=4, num_samples=300, seed=3)
    assert top_words(first.words, 2) == ["great", "awful"]
    assert dict(first.words)["great"] > 0 > dict(first.words)["awful"]
    assert first.words == again.words
    assert first.probability == pytest.approx(keyword_classifier([TEXT])[0, 1])
    assert 0 < first.local_fit <= 1
    assert "<html" in first.html.lower()


def test_overlap_and_rank_correlation():
    teacher = [("great", 0.5), ("awful", -0.4), ("plot", 0.1), ("was", 0.05)]
    student = [("great", 0.3), ("awful", -0.2), ("ending", 0.15), ("plot", 0.01)]
    assert overlap(student, teacher, k=2) == 1.0
    assert overlap(student, teacher, k=3) == pytest.approx(2 / 3)
    assert rank_correlation(student, teacher) == pytest.approx(1.0)
    assert rank_correlation([("great", -0.5), ("awful", 0.4), ("plot", 0.0)], teacher) < 0
    assert rank_correlation(student[:2], teacher) == 0.0
