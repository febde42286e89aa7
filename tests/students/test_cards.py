"""The students' model cards: what they state, the stage writing them, the same bytes from any
process, and cards for a folder written without them."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import beta
from sklearn.multioutput import MultiOutputRegressor
from support import (
    ROOT,
    fake_teacher_logits,
    fit,
    pair_frame,
    student_params,
    synthetic_pairs,
    synthetic_reviews,
)

from bertdistill.core.dvc_stages import stage_command
from bertdistill.core.errors import UserError
from bertdistill.core.registry import STUDENT_NAMES
from bertdistill.core.tables import frame_texts
from bertdistill.students.cards import card_path, write_cards
from bertdistill.students.files import save_students
from bertdistill.students.fitting import fit_students
from bertdistill.students.transfer_set import TransferSet

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


def test_three_class_pair_students_get_cards_naming_the_choice(tmp_path):
    """The distilled SVM of K classes is one LinearSVR per class: its C is the estimator's."""
    train, unlabeled = pair_frame(synthetic_pairs(90, 1)), pair_frame(synthetic_pairs(120, 2))
    validation = pair_frame(synthetic_pairs(45, 3))
    transfer = TransferSet.build(
        (frame_texts(train), train["label"].to_numpy(), 3.0 * np.eye(3)[train["label"]]),
        (frame_texts(unlabeled), 3.0 * np.eye(3)[unlabeled["label"]]),
    )
    params = student_params(svr_C=(0.001, 2.0))
    students, selections = fit_students(
        transfer, frame_texts(validation), validation["label"].to_numpy(), params, seed=0
    )
    assert isinstance(students.models["svm_distilled"], MultiOutputRegressor)
    save_students(tmp_path / "students", students)
    metrics = stage_metrics(students, selections) | {"validation_size": 45}
    write_cards(tmp_path / "students", params, metrics)
    card = flat(card_path(tmp_path / "students", "svm_distilled").read_text())
    chosen = selections["svm_distilled"].hyperparameters["C"]
    assert f"| C | {chosen} | 0.001, 2.0 |" in card


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


def tiny_stage_inputs(folder) -> None:
    """The files the distill_students command reads, at the paths dvc.yaml names."""
    (folder / "data/prepared").mkdir(parents=True)
    (folder / "data/logits").mkdir(parents=True)
    for split, size, seed in (("train", 60, 1), ("unlabeled", 80, 2), ("validation", 30, 3)):
        reviews = synthetic_reviews(size, seed).assign(id=[f"{split}{i}" for i in range(size)])
        reviews[["id", "text", "label"]].to_parquet(folder / f"data/prepared/{split}.parquet")
        logits = fake_teacher_logits(reviews["label"].to_numpy(), seed)
        pd.DataFrame({"id": reviews["id"], "teacher_logit": logits}).to_parquet(
            folder / f"data/logits/{split}.parquet"
        )
    augmented = pd.DataFrame(
        {"id": ["a0"], "source_id": ["train0"], "student_text": ["great"], "teacher_logit": [2.0]}
    )
    augmented.to_parquet(folder / "data/logits/augmented.parquet")


def test_the_stage_writes_the_cards_write_cards_gives_an_existing_folder(tmp_path):
    tiny_stage_inputs(tmp_path)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = student_params(**GRIDS)
    params["distill_students"] = json.loads(json.dumps(tiny.model_dump()))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(
        stage_command(ROOT, "distill_students"),
        cwd=tmp_path,
        env=ENV,
        check=True,
        capture_output=True,
    )
    folder, metrics = tmp_path / "models/students", tmp_path / "metrics/students.json"
    metrics = json.loads(metrics.read_text())
    assert metrics["validation_size"] == 30
    names = [name for name in STUDENT_NAMES if "tree" not in name]
    cards = {name: card_path(folder, name).read_bytes() for name in names}
    assert not card_path(folder, "tree_baseline").exists()
    for name in names:
        card_path(folder, name).unlink()
    write_cards(folder, tiny, metrics)
    assert {name: card_path(folder, name).read_bytes() for name in names} == cards
    accuracy = metrics["lr_distilled_val_accuracy"]
    assert f"| validation accuracy | {accuracy:.4f} |" in flat(cards["lr_distilled"].decode())
    assert np.isclose(accuracy * 30, round(accuracy * 30))
