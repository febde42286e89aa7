import numpy as np
import pytest

from bertdistill.evaluation import (
    confusion_rows,
    flatten,
    report_markdown,
    roc_points,
    score,
    throughput,
)
from bertdistill.registry import PAPER_TABLE, STUDENT_NAMES, teacher_model_title


def test_score_against_gold_and_teacher():
    labels = np.array([0, 0, 1, 1])
    logits = np.array([-2.0, 1.0, 3.0, 0.5])
    teacher = np.array([-1.0, -1.0, 2.0, -3.0])
    result = score(labels, logits, teacher)
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["f1"] == pytest.approx(0.8)
    assert result["roc_auc"] == pytest.approx(0.75)
    assert result["agreement"] == pytest.approx(0.5)


def test_plot_tables():
    labels = np.array([0, 1, 1, 0])
    logits = np.array([-1.0, 2.0, -0.5, 0.3])
    roc = roc_points(labels, logits)
    assert roc[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]
    confusion = confusion_rows(labels, logits)
    assert confusion.values.tolist() == [
        ["negative", "negative"],
        ["positive", "positive"],
        ["positive", "negative"],
        ["negative", "positive"],
    ]


@pytest.fixture
def per_model():
    return {
        name: {
            "accuracy": 0.5 + i / 100,
            "f1": 0.5,
            "roc_auc": 0.6,
            "agreement": 0.7,
            "size_bytes": 10,
        }
        for i, name in enumerate(["teacher", *STUDENT_NAMES])
    }


def test_report_puts_the_paper_beside_ours(per_model):
    report = report_markdown(per_model, 5000, "IMDB", "Teacher (minilm, 256 tokens head+tail)")
    assert "5,000 IMDB test texts" in report
    assert "| Teacher (minilm, 256 tokens head+tail) | 0.93 | 0.5000 |" in report
    for name, paper in PAPER_TABLE.items():
        assert f"| {paper:.2f} | {per_model[name]['accuracy']:.4f} |" in report
    gain = per_model["svm_distilled"]["accuracy"] - per_model["svm_baseline"]["accuracy"]
    assert f"| SVM | -0.180 | {gain:+.3f} |" in report
    assert flatten(per_model)["lr_distilled_accuracy"] == per_model["lr_distilled"]["accuracy"]


def test_report_on_other_data_names_it_and_leaves_the_paper_out(per_model):
    report = report_markdown(per_model, 300, "Yelp polarity", "Teacher (bert-base-uncased)")
    assert "300 Yelp polarity test texts" in report
    assert "IMDB" not in report and "paper" not in report.lower()
    assert "| Teacher (bert-base-uncased) | 0.5000 | 0.5000 |" in report
    gain = per_model["svm_distilled"]["accuracy"] - per_model["svm_baseline"]["accuracy"]
    assert f"| SVM | {gain:+.3f} |" in report


def test_teacher_title_names_the_model_and_its_tokens():
    spec = {"max_len": 512, "truncation": "head_tail", "head_tokens": 128, "pooling": "cls"}
    assert teacher_model_title("bert-base-uncased", spec) == (
        "Teacher (bert-base-uncased, 512 tokens head+tail)"
    )


def test_throughput_counts_texts_per_second():
    calls = []
    rate = throughput(lambda texts: calls.append(len(texts)), ["a"] * 20, repeats=3)
    assert calls == [8, 20, 20, 20]
    assert rate > 0
