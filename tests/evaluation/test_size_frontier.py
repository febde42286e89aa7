import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bertdistill.core.registry import STUDENTS
from bertdistill.evaluation.size_frontier import (
    FrontierRun,
    frontier_metrics,
    plot_rows,
    readable_weights,
    report_markdown,
    score,
    tree_rules,
)
from bertdistill.students.budgets import Budgeted

BY_NAME = {student.name: student for student in STUDENTS}
TERMS = ["bad", "great", "plot", "awful", "loved", "dull"]
CLASSES = ("negative", "positive")
NLI = ("entailment", "neutral", "contradiction")


def data(rows: int = 300, seed: int = 0):
    """TF-IDF-like features whose first two columns carry the label."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 0.3, size=(rows, len(TERMS))) * (rng.random((rows, 6)) < 0.5)
    labels = (features[:, 1] - features[:, 0] + rng.normal(0, 0.05, rows) > 0).astype(int)
    return sp.csr_matrix(features), labels


def budgeted(name: str, model, columns, budget=None, hyperparameters=None) -> Budgeted:
    columns = np.asarray(columns)
    size = model.get_n_leaves() if hasattr(model, "get_n_leaves") else len(columns)
    return Budgeted(BY_NAME[name], budget, model, columns, int(size), 0.9, hyperparameters or {})


@pytest.fixture(scope="module")
def scored():
    features, labels = data()
    logits = np.where(labels == 1, 2.0, -2.0)
    teacher = np.where(np.arange(len(labels)) % 10 == 0, -logits, logits)  # 90% right
    points = [
        budgeted("lr_baseline", Ridge().fit(features[:, [0]], labels * 2 - 1), [0], 1),
        budgeted("lr_distilled", Ridge().fit(features[:, [0, 1]], logits), [0, 1], 1),
    ]
    return (
        features,
        labels,
        teacher,
        points,
        score(points, features, labels, teacher, "logits", 1.0, 1000, seed=0),
    )


def test_each_point_is_scored_on_its_own_columns_against_its_twin_and_the_teacher(scored):
    features, labels, teacher, points, (teacher_accuracy, results) = scored
    accuracies = []
    for point, result in zip(points, results, strict=True):
        predicted = point.model.predict(features[:, point.columns]) > 0
        accuracies.append(np.mean(predicted == labels))
        assert result.accuracy.estimate == pytest.approx(accuracies[-1])
        assert result.accuracy.low <= accuracies[-1] <= result.accuracy.high
    assert teacher_accuracy.estimate == pytest.approx(0.9)
    assert results[0].gain is None  # a gold-label point has no twin comparison of its own
    assert results[1].gain.estimate == pytest.approx(accuracies[1] - accuracies[0], abs=2e-6)
    assert results[1].vs_teacher.estimate == pytest.approx(accuracies[1] - 0.9, abs=2e-6)


def test_the_metrics_name_each_point_by_student_and_budget(scored):
    *_, (teacher_accuracy, results) = scored
    metrics = frontier_metrics(teacher_accuracy, results, test_size=300)
    assert metrics["lr_distilled_1_size"] == 2
    assert metrics["lr_1_gain"] == results[1].gain.estimate
    assert metrics["lr_1_gain_ci_low"] <= metrics["lr_1_gain"] <= metrics["lr_1_gain_ci_high"]
    assert 0 <= metrics["lr_distilled_1_vs_teacher_mcnemar_p"] <= 1
    assert metrics["teacher_accuracy"] == teacher_accuracy.estimate
    rows = plot_rows(results, ("lr",))
    assert [row["size"] for row in rows] == [1, 2]
    assert all(row["ci_low"] <= row["accuracy"] <= row["ci_high"] for row in rows)
    assert plot_rows(results, ("tree",)) == []


def test_a_linear_student_reads_as_its_ngrams_strongest_first():
    features, labels = data()
    model = Ridge(alpha=0.1).fit(features[:, [3, 1, 5]], labels * 4.0 - 2)
    shown = readable_weights(budgeted("lr_distilled", model, [3, 1, 5]), TERMS, CLASSES)
    assert shown["heads"] == ["positive", "negative"]
    up = [side[0] for side, _ in shown["sides"] if side]
    down = [side[0] for _, side in shown["sides"] if side]
    assert sorted(up + down) == sorted(term for term, _ in shown["rows"])
    assert all(values[0] > 0 for term, values in shown["rows"] if term in up)
    assert all(values[0] < 0 for term, values in shown["rows"] if term in down)
    assert {term for term, _ in shown["rows"]} == {"awful", "great", "dull"}
    strengths = [abs(values[0]) for _, values in shown["rows"]]
    assert strengths == sorted(strengths, reverse=True)
    weights = dict(zip(("awful", "great", "dull"), model.coef_, strict=True))
    assert all(values[0] == weights[term] for term, values in shown["rows"])
    assert shown["intercepts"] == [model.intercept_]


@pytest.mark.parametrize("tree_class", [DecisionTreeRegressor, DecisionTreeClassifier])
def test_a_trees_rules_send_every_text_to_one_leaf_that_predicts_as_the_tree(tree_class):
    features, labels = data()
    targets = labels * 4.0 - 2 if tree_class is DecisionTreeRegressor else labels
    tree = tree_class(max_leaf_nodes=4, random_state=0).fit(features, targets)
    name = "tree_distilled" if tree_class is DecisionTreeRegressor else "tree_baseline"
    rules = tree_rules(budgeted(name, tree, range(len(TERMS)), 4), TERMS, CLASSES)
    assert len(rules) == 4 and sum(rule.texts for rule in rules) == len(labels)
    dense = features.toarray()
    predicted = tree.predict(features)
    predicted = predicted > 0 if tree_class is DecisionTreeRegressor else predicted == 1
    for row, positive in zip(dense, predicted, strict=True):
        matching = [rule for rule in rules if all(holds(c, row) for c in rule.conditions)]
        assert len(matching) == 1
        assert matching[0].prediction == CLASSES[int(positive)]


def holds(condition: str, row: np.ndarray) -> bool:
    term, sign, threshold = re.fullmatch(r"(\S+) (≤|>) (\S+)", condition).groups()
    value = row[TERMS.index(term)]
    # thresholds are printed to 3 decimals: no data value lies that close to one here
    return value <= float(threshold) if sign == "≤" else value > float(threshold)


def test_the_report_tables_each_budget_and_prints_the_shown_models_whole(scored):
    features, labels, _, points, (teacher_accuracy, results) = scored
    tree = DecisionTreeRegressor(max_leaf_nodes=2, random_state=0).fit(features, labels - 0.5)
    shown_tree = budgeted("tree_distilled", tree, range(len(TERMS)), 2)
    run = FrontierRun("IMDB", 300, 1000, CLASSES, "Teacher (tiny)", "logits")
    report = report_markdown(teacher_accuracy, results, [points[1]], shown_tree, TERMS, run)
    assert "## Logistic regression" in report and "## Decision tree" not in report
    table_row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert "1 / 2" in table_row and results[1].gain.signed() in table_row
    assert "| bad |" in report and "| great |" in report  # the distilled LR's two n-grams
    assert "2 leaves, as rules" in report
    assert report.count(" | positive | ") + report.count(" | negative | ") == 2


def test_a_classifier_trees_rules_name_the_label_ids_it_saw():
    """A tree fitted on classes 0 and 2 of three: its leaves name those, not 0 and 1."""
    features, labels = data()
    tree = DecisionTreeClassifier(max_leaf_nodes=3, random_state=0).fit(features, labels * 2)
    rules = tree_rules(budgeted("tree_baseline", tree, range(len(TERMS)), 3), TERMS, NLI)
    assert {rule.prediction for rule in rules} == {"entailment", "contradiction"}


def test_the_report_names_the_distilled_target_it_was_given():
    run = FrontierRun("IMDB", 1, 1000, CLASSES, "T", "logits", temperature=2.0, gold_alpha=0.3)
    assert run.target_text == (
        "the teacher's logit at temperature 2, the gold label blended in with weight 0.3"
    )
    assert FrontierRun("X", 1, 1000, CLASSES, "T", "probabilities").target_text == (
        "the teacher's probability"
    )
