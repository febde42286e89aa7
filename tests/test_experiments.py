import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bertdistill.experiments import COLUMNS, curve, merge, runs
from bertdistill.registry import KINDS
from bertdistill.registry import MODEL_NAMES as MODELS

ROOT = Path(__file__).resolve().parents[1]


def evaluate_metrics(accuracy: float) -> dict:
    metrics = {"test_size": 100, "seeds": 3}
    for index, model in enumerate(MODELS):
        value = accuracy + index / 100
        metrics |= {
            f"{model}_accuracy": value,
            f"{model}_accuracy_ci_low": value - 0.01,
            f"{model}_accuracy_ci_high": value + 0.01,
        }
    for kind in KINDS:
        key = f"{kind}_distilled_vs_{kind}_baseline_accuracy_diff"
        metrics |= {key: 0.02, f"{key}_ci_low": 0.01, f"{key}_ci_high": 0.03}
    return metrics


def run(name, train_size, accuracy, unlabeled=20, rev=None, **extra):
    data = {
        "rev": rev or name,
        "params": {"params.yaml": {"data": {"prepare": {"train_size": train_size}}}},
        "metrics": {
            "metrics/evaluate.json": {"data": evaluate_metrics(accuracy)},
            "metrics/students.json": {"data": {"unlabeled_size": unlabeled}},
        },
    }
    return {"rev": rev or name, "name": name, "data": data, **extra}


def exp_show_output():
    return [
        run("workspace", 2000, 0.80),
        run(
            "main",
            2000,
            0.80,
            rev="abc123",
            experiments=[
                {"revs": [run("exp-small", 500, 0.70, rev="workspace")]},
                {"revs": [run("exp-large", 5000, 0.85, unlabeled=0, rev="e1")]},
                {"revs": [{"rev": "failed", "name": "exp-failed", "data": {"params": {}}}]},
            ],
        ),
        # an older commit whose metrics have no intervals yet
        {
            "rev": "old",
            "name": None,
            "data": {
                "rev": "old",
                "params": {"params.yaml": {"data": {"prepare": {"train_size": 2000}}}},
                "metrics": {"metrics/evaluate.json": {"data": {"teacher_accuracy": 0.5}}},
            },
        },
    ]


def test_runs_carry_the_commit_they_ran_on():
    found = {item.name: item.commit for item in runs(exp_show_output())}
    assert found == {
        "workspace": "workspace",
        "main": "abc123",
        "exp-small": "abc123",
        "exp-large": "abc123",
        "exp-failed": "abc123",
        "old": "old",
    }


def test_the_curve_has_one_row_per_size_with_intervals_and_gains():
    table = curve(runs(exp_show_output()))
    assert list(table.columns) == COLUMNS
    assert table["train_size"].tolist() == [500, 2000, 5000]
    assert table["experiment"].tolist() == ["exp-small", "main", "exp-large"]
    assert table["commit"].tolist() == ["abc123"] * 3
    assert table.loc[0, "teacher"] == 0.70
    assert table.loc[2, "tree_distilled"] == pytest.approx(0.85 + 6 / 100)
    assert table.loc[2, "tree_distilled_ci_high"] == pytest.approx(0.85 + 6 / 100 + 0.01)
    assert table.loc[1, "svm_gain_ci_low"] == 0.01
    assert (table.loc[2, "unlabeled_size"], table.loc[2, "seeds"]) == (0, 3)
    by_pool = curve(runs(exp_show_output()), x="unlabeled_size")
    assert by_pool["unlabeled_size"].tolist() == [0, 20]
    with pytest.raises(ValueError, match="unknown curve"):
        curve([], x="epochs")


def test_nothing_finished_gives_an_empty_table_with_every_column():
    table = curve(runs([{"rev": "workspace", "data": {"params": {}, "metrics": {}}}]))
    assert table.empty
    assert list(table.columns) == COLUMNS


def test_merge_keeps_other_sizes_and_replaces_the_same_size():
    table = curve(runs(exp_show_output()))
    earlier = table.iloc[[0, 1]].assign(experiment=["old-small", "old-default"])
    newer = table.iloc[[1, 2]]
    merged = merge(earlier, newer, "train_size")
    assert merged["train_size"].tolist() == [500, 2000, 5000]
    assert merged["experiment"].tolist() == ["old-small", "main", "exp-large"]
    assert isinstance(merged, pd.DataFrame)


def test_the_readme_figures_are_drawn_the_same_way_twice(tmp_path):
    (tmp_path / "plots").mkdir()
    curve(runs(exp_show_output())).to_csv(tmp_path / "plots/label_efficiency.csv", index=False)
    figures = []
    for _ in range(2):
        subprocess.run(
            [sys.executable, str(ROOT / "tools/plot_curves.py")], cwd=tmp_path, check=True
        )
        figures.append((tmp_path / "plots/label_efficiency.svg").read_bytes())
    assert figures[0] == figures[1] and figures[0].lstrip().startswith(b"<?xml")
    assert b"Logistic regression, distilled" in figures[0]
    assert not (tmp_path / "plots/unlabeled_pool.svg").exists()
    (tmp_path / "plots/label_efficiency.csv").unlink()
    missing = subprocess.run(
        [sys.executable, str(ROOT / "tools/plot_curves.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "run tools/label_efficiency.py" in missing.stderr
