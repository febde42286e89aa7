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


def test_overlap_and_rank_correlation():
    teacher = [("great", 0.5), ("awful", -0.4), ("plot", 0.1), ("was", 0.05)]
    student = [("great", 0.3), ("awful", -0.2), ("ending", 0.15), ("plot", 0.01)]
    assert overlap(student, teacher, k=2) == 1.0
    assert overlap(student, teacher, k=3) == pytest.approx(2 / 3)
    assert rank_correlation(student, teacher) == pytest.approx(1.0)
    assert rank_correlation([("great", -0.5), ("awful", 0.4), ("plot", 0.0)], teacher) < 0
    assert rank_correlation(student[:2], teacher) == 0.0


def test_linear_top_words_and_tree_levels():
    from sklearn.tree import DecisionTreeClassifier

    from bertdistill.explain import linear_top_words, tree_top_levels

    vocabulary = np.array(["bad", "fine", "good", "plot"])
    words = linear_top_words(vocabulary, np.array([[-2.0, 0.1, 3.0, -0.5]]), k=2)
    assert words == {
        "positive": [("good", 3.0), ("fine", 0.1)],
        "negative": [("bad", -2.0), ("plot", -0.5)],
    }
    tree = DecisionTreeClassifier(random_state=0).fit([[0, 0, 1, 0], [1, 0, 0, 0]], [1, 0])
    text = tree_top_levels(tree, vocabulary, depth=2)
    assert "bad <=" in text or "good <=" in text


def test_report_page_shows_each_review_once_with_all_models_side_by_side():
    from html.parser import HTMLParser

    from bertdistill.explain_report import MODEL_TITLES, render

    models = {
        name: {"probability": 0.8, "local_fit": 0.5, "words": [("great", 0.3), ("awful", -0.2)]}
        for name in MODEL_TITLES
    }
    records = [
        {
            "id": f"test-{i}",
            "label": i % 2,
            "text": f"A great film <b>{i}</b> but awful end",
            "models": models,
        }
        for i in range(2)
    ]
    agreement = {
        f"{n}_{key}": 0.5
        for n in MODEL_TITLES
        for key in ("top5_overlap", "rank_correlation", "local_fit")
    }
    views = {
        "linear": {"lr_baseline": {"positive": [("great", 1.0)], "negative": [("awful", -1.0)]}},
        "trees": {"tree_baseline": "|--- great <= 0.10\n|   |--- class: 0"},
    }
    settings = {"num_samples": 100, "num_features": 2, "top_k": 5, "seed": 1}
    page = render(records, views, agreement, settings)

    class Collector(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.sections, self.rows, self.external = [], 0, 0, []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            self.sections += tag == "section" and attrs.get("class") == "explained"
            self.rows += tag == "tr"
            if attrs.get("src") or (tag == "link" and attrs.get("href")):
                self.external.append(tag)

    collector = Collector()
    collector.feed(page)
    assert page.startswith("<!DOCTYPE html>")
    assert collector.sections == 2
    # per review: a header row and 7 models; agreement table: a header row and 6 students.
    assert collector.rows == 2 * 8 + 7
    assert collector.external == []
    assert page.count('data-word="film"') == 2, "each review text appears once"
    assert "<b>" not in page and "&lt;" in page, "review text is escaped"
    assert 'background:rgba(46,160,67,1.00)">great</span>' in page
    assert "|--- great &lt;= 0.10" in page
