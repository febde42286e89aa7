import numpy as np
import pytest

from bertdistill.core.registry import PAPER_TABLE, STUDENT_NAMES, teacher_model_title
from bertdistill.evaluation.classification import (
    classification_metrics,
    confusion_rows,
    flatten,
    roc_points,
    throughput,
)
from bertdistill.evaluation.report import ReportRun, report_markdown
from bertdistill.evaluation.statistics import (
    Comparison,
    Interval,
    bootstrap_means,
    mcnemar_exact,
    seed_spread,
    with_intervals,
)


def test_score_against_gold_and_teacher():
    labels = np.array([0, 0, 1, 1])
    logits = np.array([-2.0, 1.0, 3.0, 0.5])
    teacher = np.array([-1.0, -1.0, 2.0, -3.0])
    result = classification_metrics(labels, logits, teacher)
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


def _logits_with_hits(labels: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Logits that classify ``labels`` right exactly where ``hits`` is True."""
    right = np.where(labels == 1, 1.0, -1.0)
    return np.where(hits, right, -right)


def test_bootstrap_interval_matches_the_binomial_width():
    rng = np.random.default_rng(0)
    hits = rng.random(4000) < 0.8
    samples = bootstrap_means({"model": hits}, resamples=4000, seed=1)["model"]
    interval = Interval.percentile(hits.mean(), samples)
    expected_half_width = 1.96 * np.sqrt(hits.mean() * (1 - hits.mean()) / hits.size)
    assert (interval.high - interval.low) / 2 == pytest.approx(expected_half_width, rel=0.1)
    assert interval.low < hits.mean() < interval.high


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(0)
    hits = {"a": rng.random(500) < 0.7, "b": rng.random(500) < 0.7}
    hits["same_as_a"] = hits["a"].copy()
    first = bootstrap_means(hits, resamples=300, seed=5, chunk=7)
    again = bootstrap_means(hits, resamples=300, seed=5)
    other = bootstrap_means(hits, resamples=300, seed=6)
    assert all(np.array_equal(first[name], again[name]) for name in hits)
    assert not np.array_equal(first["a"], other["a"])
    assert first["a"].shape == (300,)
    # paired: a model compared with an identical one differs by exactly zero on every resample
    assert np.array_equal(first["a"], first["same_as_a"])
    assert not np.array_equal(first["a"], first["b"])


def test_mcnemar_exact_p_values():
    model = np.array([True] * 10 + [False] * 5)
    reference = np.array([False] * 10 + [False] * 5)
    assert mcnemar_exact(model, reference) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(reference, model) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(model, model) == 1.0
    balanced = np.array([True, False] * 6)
    assert mcnemar_exact(balanced, ~balanced) == pytest.approx(1.0)


def test_intervals_word_a_clear_gain_as_a_win_and_noise_as_a_tie():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 2000)
    teacher = rng.random(2000) < 0.9
    baseline = rng.random(2000) < 0.8
    logits = {"teacher": _logits_with_hits(labels, teacher)}
    for kind in ("lr", "svm", "tree"):
        logits[f"{kind}_baseline"] = _logits_with_hits(labels, baseline)
    logits["lr_distilled"] = _logits_with_hits(labels, baseline | (rng.random(2000) < 0.5))
    swapped = baseline.copy()  # 30 texts each way: the same accuracy, different texts
    swapped[np.flatnonzero(baseline)[:30]] = False
    swapped[np.flatnonzero(~baseline)[:30]] = True
    logits["svm_distilled"] = _logits_with_hits(labels, swapped)
    logits["tree_distilled"] = _logits_with_hits(labels, baseline & (rng.random(2000) < 0.8))
    accuracy, comparisons = with_intervals(labels, logits, resamples=1000, seed=0)
    by_key = {c.key: c for c in comparisons}
    assert [c.key for c in comparisons][:3] == [
        "lr_distilled_vs_lr_baseline",
        "svm_distilled_vs_svm_baseline",
        "tree_distilled_vs_tree_baseline",
    ]
    assert len(comparisons) == 3 + 6
    assert by_key["lr_distilled_vs_lr_baseline"].difference.sign == 1
    assert by_key["svm_distilled_vs_svm_baseline"].difference.sign == 0
    assert by_key["tree_distilled_vs_tree_baseline"].difference.sign == -1
    assert by_key["lr_distilled_vs_lr_baseline"].mcnemar_p < 1e-4
    assert by_key["svm_distilled_vs_svm_baseline"].mcnemar_p == pytest.approx(1.0)
    gain = by_key["lr_distilled_vs_lr_baseline"].difference
    assert gain.estimate == pytest.approx(
        accuracy["lr_distilled"].estimate - accuracy["lr_baseline"].estimate
    )
    assert gain.low < gain.estimate < gain.high
    metrics = by_key["svm_distilled_vs_svm_baseline"].metrics()
    assert set(metrics) == {
        "svm_distilled_vs_svm_baseline_accuracy_diff",
        "svm_distilled_vs_svm_baseline_accuracy_diff_ci_low",
        "svm_distilled_vs_svm_baseline_accuracy_diff_ci_high",
        "svm_distilled_vs_svm_baseline_mcnemar_p",
    }


def test_seed_spread():
    labels = np.array([1, 0, 1, 0])
    runs = [np.array([1.0, -1, 1, -1]), np.array([1.0, 1, 1, -1]), np.array([-1.0, 1, 1, -1])]
    spread = seed_spread(labels, runs)
    assert spread["seeds_accuracy_mean"] == pytest.approx(0.75)
    assert spread["seeds_accuracy_std"] == pytest.approx(np.std([1.0, 0.75, 0.5], ddof=1))
    assert (spread["seeds_accuracy_min"], spread["seeds_accuracy_max"]) == (0.5, 1.0)
    assert seed_spread(labels, runs[:1]) == {}  # one seed measures no spread


def test_an_interval_is_worded_by_what_the_report_shows():
    assert Interval(0.024, 0.019, 0.029).sign == 1
    assert Interval(-0.02, -0.03, -0.011).sign == -1
    assert Interval(0.01, 0.0, 0.02).sign == 0
    # one text in 5,000 is 0.0002: an end that shows as +0.000 is a tie, not a win
    shown_as_zero = Interval(0.0004, 0.0002, 0.0008)
    assert shown_as_zero.signed() == "+0.000 [+0.000, +0.001]"
    assert shown_as_zero.sign == 0
    assert Interval(0.0016, 0.0006, 0.0026).sign == 1


@pytest.fixture
def scored():
    """Scores, intervals and comparisons as evaluate passes them to the report."""
    names = ["teacher", *STUDENT_NAMES]
    per_model = {
        name: {
            "accuracy": 0.5 + i / 100,
            "f1": 0.5,
            "roc_auc": 0.6,
            "agreement": 0.7,
            "size_bytes": 10,
            "seeds_accuracy_mean": 0.6,
            "seeds_accuracy_std": 0.01,
            "seeds_accuracy_min": 0.59,
            "seeds_accuracy_max": 0.61,
        }
        for i, name in enumerate(names)
    }
    accuracy = {
        name: Interval(values["accuracy"], values["accuracy"] - 0.01, values["accuracy"] + 0.01)
        for name, values in per_model.items()
    }
    gains = {"lr": Interval(0.024, 0.019, 0.029), "svm": Interval(0.004, -0.002, 0.01)}
    gains["tree"] = Interval(-0.03, -0.04, -0.02)
    comparisons = [
        Comparison(f"{kind}_distilled", f"{kind}_baseline", gain, 0.00001)
        for kind, gain in gains.items()
    ] + [Comparison(name, "teacher", Interval(-0.01, -0.02, 0.001), 0.2) for name in STUDENT_NAMES]
    return per_model, accuracy, comparisons


REFITTED = ("svm_baseline", "svm_distilled", "tree_baseline", "tree_distilled")


def _run(dataset: str, teacher_title: str, test_size: int, seeds: int = 5) -> ReportRun:
    return ReportRun(
        test_size, dataset, teacher_title, resamples=10000, seeds=seeds, refitted=REFITTED
    )


def test_report_puts_the_paper_beside_ours_with_intervals(scored):
    run = _run("IMDB", "Teacher (minilm, 256 tokens head+tail)", 5000)
    report = report_markdown(*scored, run)
    per_model = scored[0]
    assert "5,000 IMDB test texts" in report and "10,000 bootstrap resamples" in report
    assert (
        "| Teacher (minilm, 256 tokens head+tail) | 0.93 | 0.5000 [0.4900, 0.5100] | below |"
        in (report)
    )
    for name, paper in PAPER_TABLE.items():
        assert f"| {paper:.2f} | {per_model[name]['accuracy']:.4f} [" in report
    assert "| Decision tree, gold labels | 0.63 | 0.5500 [0.5400, 0.5600] | below |" in report
    assert "not the seeds of the teacher" in report and "each of the 9 comparisons" in report


def test_a_paper_figure_counts_with_its_rounding(scored):
    per_model, accuracy, comparisons = scored
    # the paper's tree figures are 0.63 and 0.65, each +-0.005
    accuracy = accuracy | {
        "tree_baseline": Interval(0.64, 0.636, 0.644),
        "tree_distilled": Interval(0.66, 0.652, 0.668),
    }
    report = report_markdown(per_model, accuracy, comparisons, _run("IMDB", "Teacher", 5000))
    assert "| Decision tree, gold labels | 0.63 | 0.6400 [0.6360, 0.6440] | above |" in report
    assert "| Decision tree, distilled | 0.65 | 0.6600 [0.6520, 0.6680] | tie |" in report
    assert (
        "| Logistic regression | -0.020 | +0.024 [+0.019, +0.029] | <0.0001 | distilled better |"
        in report
    )
    assert "| SVM | -0.180 | +0.004 [-0.002, +0.010] | <0.0001 | tie |" in report
    assert (
        "| Decision tree | +0.020 | -0.030 [-0.040, -0.020] | <0.0001 | gold labels better |"
        in (report)
    )
    assert "| SVM, distilled | -0.010 [-0.020, +0.001] | 0.2000 | tie |" in report
    assert "| Decision tree, gold labels | 0.6000 | 0.0100 | 0.5900 - 0.6100 |" in report
    assert "re-fitted with 5 seeds" in report
    # a student not re-fitted is deterministic: its spread is zero by construction
    assert "| Logistic regression, distilled | 0.6000 | 0 by construction | 0.5900 - 0.6100 |" in (
        report
    )
    assert flatten(per_model)["lr_distilled_accuracy"] == per_model["lr_distilled"]["accuracy"]


def test_report_on_other_data_names_it_and_leaves_the_paper_out(scored):
    report = report_markdown(*scored, _run("Yelp polarity", "Teacher (bert-base-uncased)", 300, 1))
    assert "300 Yelp polarity test texts" in report
    assert "IMDB" not in report and "paper" not in report.lower()
    assert "| Teacher (bert-base-uncased) | 0.5000 [0.4900, 0.5100] | 0.5000 |" in report
    assert "| SVM | +0.004 [-0.002, +0.010] | <0.0001 | tie |" in report
    assert "One seed" in report


def test_teacher_title_names_the_model_and_its_tokens():
    spec = {"max_len": 512, "truncation": "head_tail", "head_tokens": 128, "pooling": "cls"}
    assert teacher_model_title("bert-base-uncased", spec) == (
        "Teacher (bert-base-uncased, 512 tokens head+tail)"
    )
    assert teacher_model_title("bert-base-uncased", spec, pairs=True) == (
        "Teacher (bert-base-uncased, 512 tokens longest-first)"
    )


def test_throughput_counts_texts_per_second():
    calls = []
    rate = throughput(lambda texts: calls.append(len(texts)), ["a"] * 20, repeats=3)
    assert calls == [8, 20, 20, 20]
    assert rate > 0
