import numpy as np
import pytest
from sklearn.linear_model import Ridge
from support import fit, student_params, synthetic_reviews, transfer_set

from bertdistill.core.errors import UserError
from bertdistill.core.params import FrontierParams
from bertdistill.core.registry import STUDENTS
from bertdistill.students import budgets
from bertdistill.students.budgets import fit_at_budgets, model_size
from bertdistill.students.fitting import fit_data
from bertdistill.students.l1_path import L1Path, l1_model, l1_path, linear_weights, path_start

BY_NAME = {student.name: student for student in STUDENTS}


def frontier_params(**changes) -> FrontierParams:
    values = dict(
        weight_budgets=(3, 10),
        leaf_budgets=(2, 4),
        path_steps_per_decade=8,
        path_points=40,
        path_candidates=3,
        shown_weights=(3,),
        shown_leaves=2,
        bootstrap_resamples=1000,
    )
    return FrontierParams(**(values | changes))


@pytest.fixture(scope="module")
def fitted_data():
    params = student_params(lr_C=(1.0, 4.0), ridge_alpha=(0.3, 1.0), tree_min_samples_leaf=(1, 3))
    students, _ = fit(params)
    transfer, validation = transfer_set(), synthetic_reviews(40, seed=5)
    data = fit_data(
        transfer,
        students.features(transfer.texts),
        students.features(validation["text"].tolist()),
        validation["label"].to_numpy(),
        params,
    )
    return params, data


@pytest.fixture(scope="module")
def points(fitted_data):
    params, data = fitted_data
    return fit_at_budgets(STUDENTS, data, frontier_params(), params, seed=0, outputs=1)


def test_every_student_gets_every_budget_of_its_kind_and_keeps_within_it(points):
    found = {(point.student.name, point.budget) for point in points}
    for student in STUDENTS:
        budgets = (3, 10) if student.linear else (2, 4)
        assert {(student.name, budget) for budget in budgets} <= found
    for point in points:
        assert 0 < point.size <= point.budget, point.label
        assert point.size == model_size(point.model)


def test_a_linear_point_reads_only_its_columns_and_weighs_each(points):
    for point in points:
        if point.student.linear:
            weights, _ = linear_weights(point.model)
            assert weights.shape[1] == len(point.columns) == point.size
            assert np.all(np.any(weights != 0, axis=0))


def test_each_budget_keeps_the_best_candidate_on_validation(fitted_data, points):
    """The kept point is at least as good on validation as the L2 re-fit of every candidate."""
    params, data = fitted_data
    features, targets, val_features, val_labels = data["distilled"]
    config = frontier_params()
    path = l1_path(BY_NAME["lr_distilled"], data["distilled"], (3, 10), config, params, 0)
    kept = next(p for p in points if p.student.name == "lr_distilled" and p.budget == 10)
    for support in path.candidates(10, 3):
        for alpha in params.ridge_alpha:
            model = Ridge(alpha=alpha).fit(features[:, support], targets)
            predicted = (model.predict(val_features[:, support]) > 0).astype(int)
            assert kept.val_accuracy >= np.mean(predicted == val_labels)


def test_the_distilled_twins_share_one_lasso_path(fitted_data, monkeypatch):
    params, data = fitted_data
    walked = []

    def counted(student, *args, **kwargs):
        walked.append(student.name)
        return budgets.l1_path.__wrapped__(student, *args, **kwargs)

    counted.__wrapped__ = budgets.l1_path
    monkeypatch.setattr(budgets, "l1_path", counted)
    linear = [student for student in STUDENTS if student.linear]
    points = fit_at_budgets(linear, data, frontier_params(), params, seed=0, outputs=1)
    assert sorted(walked) == ["lr_baseline", "lr_distilled", "svm_baseline"]
    assert {point.student.name for point in points} == {student.name for student in linear}


def test_a_path_stops_past_the_largest_budget(fitted_data):
    params, data = fitted_data
    path = l1_path(BY_NAME["lr_baseline"], data["baseline"], (10,), frontier_params(), params, 0)
    sizes = [len(support) for support in path.supports]
    assert len(sizes) > 1 and 0 < sizes[0] <= 10  # an L1 path: it starts sparse
    assert sizes[-1] > 10 and all(size <= 10 for size in sizes[:-1])
    assert len(set(path.entry)) == len(path.entry) >= sizes[-1]


def test_candidates_are_supports_within_the_budget_and_the_first_entered():
    supports = [np.array(s) for s in ([4], [1, 4], [1, 4, 7], [1, 2, 4, 7, 9], [0, 1, 2, 4, 7, 9])]
    path = L1Path(supports, entry=np.array([4, 1, 7, 9, 2, 0]))
    assert [list(s) for s in path.candidates(4, keep=2)] == [[1, 4], [1, 4, 7], [1, 4, 7, 9]]
    assert [list(s) for s in path.candidates(3, keep=5)] == [[4], [1, 4], [1, 4, 7]]
    assert [list(s) for s in path.candidates(1, keep=1)] == [[4]]


def test_a_tree_at_a_budget_has_at_most_that_many_leaves(points):
    trees = [point for point in points if point.student.kind == "tree"]
    assert {point.budget for point in trees} == {2, 4}
    for point in trees:
        assert point.model.get_n_leaves() <= point.budget
        assert point.hyperparameters["max_leaf_nodes"] == point.budget


def test_three_classes_fit_at_budgets(fitted_data):
    """Beyond two classes: a multinomial L1 path, a support over every class's weights."""
    params, data = fitted_data
    features, labels, val_features, val_labels = data["baseline"]
    three = np.where(np.arange(len(labels)) % 3 == 2, 2, labels)  # a third class among them
    targets = np.eye(3)[three] * 2 - 1
    data3 = {
        "baseline": (features, three, val_features, val_labels % 3),
        "distilled": (features, targets, val_features, val_labels % 3),
    }
    linear = [BY_NAME["lr_baseline"], BY_NAME["svm_distilled"]]
    points = fit_at_budgets(linear, data3, frontier_params(), params, seed=0, outputs=3)
    assert {point.label for point in points} >= {"lr_baseline_10", "svm_distilled_10"}
    for point in points:
        assert linear_weights(point.model)[0].shape[0] == 3
        assert point.size <= point.budget


@pytest.mark.parametrize("name", ["lr_baseline", "svm_baseline", "lr_distilled"])
@pytest.mark.parametrize("classes", [2, 3])
def test_the_path_starts_where_the_first_ngram_enters(fitted_data, name, classes):
    params, data = fitted_data
    student = BY_NAME[name]
    features, labels = data[student.variant][0], data["baseline"][1]
    if student.variant == "baseline":
        targets = np.where(np.arange(len(labels)) % 3 == 2, 2, labels) if classes == 3 else labels
    else:
        targets = (
            data["distilled"][1]
            if classes == 2
            else np.eye(3)[np.arange(len(data["distilled"][1])) % 3]
        )
    start = path_start(student, features, targets)
    outputs = 1 if classes == 2 else 3
    # l1_min_c bounds liblinear's penalised intercept too: one-vs-rest SVMs over unbalanced
    # classes take their first n-gram later than the bound (the path starts early, not late)
    exact = not (name == "svm_baseline" and classes == 3)
    for factor, entered in ((0.9, False), (1.1, True)):
        value = start * factor if student.variant == "baseline" else start / factor
        model = l1_model(student, value, params, seed=0, outputs=outputs).fit(features, targets)
        if exact or not entered:
            assert np.any(linear_weights(model)[0] != 0) == entered, factor


def test_the_params_name_a_shown_model_that_is_not_fitted():
    with pytest.raises(UserError, match=r"size_frontier\.shown_weights.*\[50\]"):
        frontier_params(shown_weights=(3, 50))
    with pytest.raises(UserError, match=r"size_frontier\.shown_leaves.*leaf_budgets"):
        frontier_params(shown_leaves=16)
    with pytest.raises(ValueError, match="smallest first"):
        frontier_params(weight_budgets=(10, 3))
