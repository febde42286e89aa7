"""The students' model cards: what they state, the same bytes from any process, and refusing
metrics of another run."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from scipy.stats import beta
from support import ROOT, fit, student_params

from bertdistill.core.errors import UserError
from bertdistill.core.registry import STUDENT_NAMES
from bertdistill.students.cards import card_path, write_cards
from bertdistill.students.files import save_students

ENV = os.environ | {"PYTHONPATH": str(ROOT)}
VALIDATION_SIZE = 40  # support.fit's validation reviews
# Two candidates for each student: the card must name the one kept and both tried. A tree of
# depth 1 reads one word, so the trees keep a candidate other than the first
GRIDS = dict(
    lr_C=(0.01, 4.0),
    ridge_alpha=(1.0, 30.0),
    svm_C=(0.5, 0.001),
    svr_C=(0.5, 2.0),
    tree_max_depth=(1, 6),
)
GRID_KEYS = {
    "lr_baseline": "lr_C",
    "lr_distilled": "ridge_alpha",
    "svm_baseline": "svm_C",
    "svm_distilled": "svr_C",
}


@pytest.fixture(scope="module")
def fitted():
    params = student_params(**GRIDS)
    students, selections = fit(params)
    return params, students, selections


def stage_metrics(students, selections) -> dict:
    """The keys the cards read, as the distill stages write them."""
    metrics = {
        "labelled_size": 80,
        "unlabeled_size": 120,
        "augmented_size": 0,
        "transfer_size": 200,
        "validation_size": VALIDATION_SIZE,
        "tfidf_features": len(students.featurizer.vocabulary_),
    }
    for name, selection in selections.items():
        metrics[f"{name}_val_accuracy"] = round(selection.val_accuracy, 6)
        metrics[f"{name}_candidates"] = selection.tried
        metrics |= {f"{name}_{key}": value for key, value in selection.hyperparameters.items()}
    return metrics


@pytest.fixture
def folder(fitted, tmp_path):
    _, students, _ = fitted
    save_students(tmp_path / "students", students)
    return tmp_path / "students"


def flat(card: str) -> str:
    """A card with every run of white space as one space: its table rows as ``| a | b |``."""
    return " ".join(card.split())


def clopper_pearson(right: int, size: int) -> tuple[float, float]:
    """The 95% exact binomial interval from the beta quantiles, apart from the project's code."""
    low = beta.ppf(0.025, right, size - right + 1) if right else 0.0
    high = beta.ppf(0.975, right + 1, size - right) if right < size else 1.0
    return low, high


def test_a_card_per_student_names_the_choice_the_candidates_and_the_interval(fitted, folder):
    params, students, selections = fitted
    metrics = stage_metrics(students, selections)
    written = write_cards(folder, params, metrics)
    assert written == [card_path(folder, name) for name in STUDENT_NAMES]
    for name, grid_key in GRID_KEYS.items():
        card = card_path(folder, name).read_text()
        assert card.startswith("---\nlibrary_name: sklearn\n")
        assert f"model_file: {name}.skops\n" in card
        ((key, value),) = selections[name].hyperparameters.items()
        tried = ", ".join(map(str, GRIDS[grid_key]))
        assert f"| {key} | {value} | {tried} |" in flat(card)
        right = round(selections[name].val_accuracy * VALIDATION_SIZE)
        low, high = clopper_pearson(right, VALIDATION_SIZE)
        assert f"| validation accuracy | {right / VALIDATION_SIZE:.4f} |" in flat(card)
        assert f"| 95% interval, Clopper-Pearson | [{low:.4f}, {high:.4f}] |" in flat(card)
        assert "Sridhar et al. (2020)" in card
        assert ("gold labels of the 80 labelled texts" in card) == name.endswith("_baseline")
        assert ("transfer set's 200 texts" in card) == name.endswith("_distilled")
        assert f'load_students(".", names=["{name}"])' in card
        assert f'load("{name}.skops", trusted=[])' in card  # what get_untrusted_types reports
        assert "<div" not in card and "[More Information Needed]" not in card


def test_a_tree_card_trusts_the_tree_type_skops_reports(fitted, folder):
    params, students, selections = fitted
    write_cards(folder, params, stage_metrics(students, selections))
    card = card_path(folder, "tree_distilled").read_text()
    assert "trusted=['sklearn.tree._tree.Tree']" in card
    assert selections["tree_distilled"].hyperparameters["max_depth"] == 6  # not the first
    assert "| max_depth | 6 | 1, 6 |" in flat(card)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("validation_size"), "validation_size"),
        (lambda m: m.update(lr_baseline_C=123.0), "lr_baseline C=123.0"),
        (lambda m: m.update(svm_distilled_candidates=3), "from 3 candidates"),
        (lambda m: m.update(lr_distilled_val_accuracy=0.123), "no count of 40 texts"),
    ],
)
def test_metrics_of_another_run_are_refused(fitted, folder, change, message):
    params, students, selections = fitted
    metrics = stage_metrics(students, selections)
    change(metrics)
    with pytest.raises(UserError, match=message):
        write_cards(folder, params, metrics)


WRITE = """
import json, sys
from bertdistill.core.params import StudentParams
from bertdistill.students.cards import write_cards
params, metrics = json.load(open(sys.argv[2]))
write_cards(sys.argv[1], StudentParams(**params), metrics)
"""


def test_cards_are_the_same_bytes_from_two_fresh_processes_in_two_folders(fitted, folder, tmp_path):
    params, students, selections = fitted
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps([params.model_dump(), stage_metrics(students, selections)]))
    copies = [shutil.copytree(folder, tmp_path / place / "students") for place in ("a", "bb")]
    for copy in copies:
        subprocess.run(
            [sys.executable, "-c", WRITE, str(copy), str(inputs)],
            check=True,
            env=ENV,
        )
    for name in STUDENT_NAMES:
        first, second = (card_path(copy, name).read_bytes() for copy in copies)
        assert first == second and str(tmp_path).encode() not in first
