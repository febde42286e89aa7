import numpy as np
import pytest

from bertdistill.evaluation import (
    PAPER_TABLE,
    confusion_rows,
    flatten,
    report_markdown,
    roc_points,
    score,
    throughput,
)
from bertdistill.registry import model_names


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


def test_report_puts_the_paper_beside_ours():
    per_model = {
        name: {
            "accuracy": 0.5 + i / 100,
            "f1": 0.5,
            "roc_auc": 0.6,
            "agreement": 0.7,
            "size_bytes": 10,
        }
        for i, name in enumerate(["teacher", *model_names()])
    }
    report = report_markdown(per_model, test_size=5000)
    assert "5,000 IMDB test reviews" in report
    for name, paper in PAPER_TABLE.items():
        assert f"| {paper:.2f} | {per_model[name]['accuracy']:.4f} |" in report
    gain = per_model["svm_distilled"]["accuracy"] - per_model["svm_baseline"]["accuracy"]
    assert f"| SVM | -0.180 | {gain:+.3f} |" in report
    assert flatten(per_model)["lr_distilled_accuracy"] == per_model["lr_distilled"]["accuracy"]


def test_throughput_counts_texts_per_second():
    calls = []
    rate = throughput(lambda texts: calls.append(len(texts)), ["a"] * 20, repeats=3)
    assert calls == [8, 20, 20, 20]
    assert rate > 0
