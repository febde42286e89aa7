import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import ROOT

from bertdistill.core.errors import UserError
from bertdistill.core.registry import KINDS
from bertdistill.core.registry import MODEL_NAMES as MODELS
from bertdistill.evaluation.curves import COLUMNS, curve, merge, setting_digest, steps
from bertdistill.evaluation.experiments import CONFUSION, finished_runs, run_hits, runs


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


def run(
    name, train_size, accuracy, unlabeled=20, rev=None, limit=None, pool=20, prepared=None, **extra
):
    params = {
        "prepare": {"train_size": train_size, "unlabeled_size": pool},
        "distill_students": {"unlabeled_limit": limit, "seeds": 3},
        "explain": {"top_k": 5},
    }
    data = {
        "rev": rev or name,
        "params": {"params.yaml": {"data": params}},
        "metrics": {
            "metrics/evaluate.json": {"data": evaluate_metrics(accuracy)},
            "metrics/students.json": {"data": {"unlabeled_size": unlabeled}},
        },
    }
    if prepared is not None:  # the unlabelled texts prepare wrote
        data["metrics"]["metrics/prepare.json"] = {"data": {"unlabeled_size": prepared}}
    return {"rev": rev or name, "name": name, "data": data, **extra}


def experiment(*revs):
    return {"revs": list(revs)}


def exp_show_output():
    return [
        run("workspace", 2000, 0.80),
        run(
            "main",
            2000,
            0.80,
            rev="abc123",
            experiments=[
                experiment(run("exp-small", 500, 0.70, rev="e0")),
                experiment(run("exp-large", 5000, 0.85, rev="e1")),
                # explain settings leave the accuracies alone: still the same curve
                experiment(run("exp-explain", 1000, 0.75, rev="e2")),
                # another pool of unlabelled reviews: another setting, in neither curve here
                experiment(run("exp-pool", 250, 0.60, rev="e3", pool=50, unlabeled=50)),
                experiment({"rev": "failed", "name": "exp-failed", "data": {"params": {}}}),
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


def pool_output():
    """One labelling pass over 50 unlabelled reviews, students on nested subsets of it, beside
    the commit's default run (a pool of 20)."""
    subsets = [
        experiment(run(f"exp-{limit}", 2000, 0.8 + limit / 1000, rev=f"p{limit}", limit=limit,
                       pool=50, unlabeled=limit))
        for limit in (0, 10, 50)
    ]  # fmt: skip
    # three commits of the default run: more runs than the pool's, but one point
    commits = [run("main", 2000, 0.80, rev=rev) for rev in ("abc125", "abc124")]
    return [run("main", 2000, 0.80, rev="abc123", experiments=subsets), *commits]


def test_runs_carry_the_commit_they_ran_on():
    found = {item.name: item.commit for item in runs(exp_show_output())}
    assert found == {
        "workspace": "workspace",
        "main": "abc123",
        "exp-small": "abc123",
        "exp-large": "abc123",
        "exp-explain": "abc123",
        "exp-pool": "abc123",
        "exp-failed": "abc123",
        "old": "old",
    }


def test_queued_running_and_failed_experiments_are_no_runs():
    output = exp_show_output()
    ranges = output[1]["experiments"]
    # a running experiment shows the working tree: its new params with the last run's metrics
    running = run("exp-running", 5000, 0.80, rev="workspace")
    ranges.append({"revs": [running], "executor": {"state": "running", "name": "workspace"}})
    ranges.append({"revs": [run("exp-queued", 10, 0.5, rev="q1")], "executor": {"state": "queued"}})
    ranges.append({"revs": [run("exp-broke", 20, 0.5, rev="f1")], "executor": {"state": "failed"}})
    ranges.append({"revs": [run("exp-done", 30, 0.5, rev="d1")], "executor": {"state": "success"}})
    names = [item.name for item in runs(output)]
    assert "exp-done" in names
    assert not {"exp-running", "exp-queued", "exp-broke"} & set(names)


def test_the_curve_keeps_runs_that_differ_in_its_key_only():
    output = exp_show_output()
    output[1]["experiments"][2]["revs"][0]["data"]["params"]["params.yaml"]["data"]["explain"] = {
        "top_k": 3
    }
    table = curve(runs(output))
    assert list(table.columns) == COLUMNS
    assert table["train_size"].tolist() == [500, 1000, 2000, 5000]
    assert table["experiment"].tolist() == ["exp-small", "exp-explain", "main", "exp-large"]
    assert table["commit"].tolist() == ["abc123"] * 4
    assert len(set(table["setting"])) == 1
    assert table.loc[0, "teacher"] == 0.70
    assert table.loc[3, "tree_distilled"] == pytest.approx(0.85 + 6 / 100)
    assert table.loc[3, "tree_distilled_ci_high"] == pytest.approx(0.85 + 6 / 100 + 0.01)
    assert table.loc[2, "svm_gain_ci_low"] == 0.01
    assert (table.loc[3, "unlabeled_pool"], table.loc[3, "seeds"]) == (20, 3)
    # the other pool's run makes its own curve when named
    other = curve(runs(output), reference="exp-pool")
    assert other["experiment"].tolist() == ["exp-pool"]
    with pytest.raises(UserError, match="no finished run with intervals is named 'nope'"):
        curve(runs(output), reference="nope")
    with pytest.raises(ValueError, match="unknown curve"):
        curve([], x="epochs")


def test_the_pool_curve_takes_the_subsets_of_one_pool_not_the_default_run():
    table = curve(runs(pool_output()), x="unlabeled_size")
    assert table["unlabeled_size"].tolist() == [0, 10, 50]
    assert table["experiment"].tolist() == ["exp-0", "exp-10", "exp-50"]
    assert set(table["unlabeled_pool"]) == {50}
    # the default run (pool 20) is the curve's only point when it is the reference
    default = curve(runs(pool_output()), x="unlabeled_size", reference="main")
    assert default["experiment"].tolist() == ["main"]


def test_a_whole_pool_run_counts_the_unlabelled_texts_prepare_wrote():
    subsets = [
        experiment(run(f"exp-{limit}", 2000, 0.8, rev=f"p{limit}", limit=limit, pool=None,
                       prepared=47, unlabeled=limit or 47))
        for limit in (None, 10)
    ]  # fmt: skip
    table = curve(
        runs([run("main", 2000, 0.80, rev="abc", experiments=subsets)]), x="unlabeled_size"
    )
    assert table["unlabeled_size"].tolist() == [10, 47]
    assert set(table["unlabeled_pool"]) == {47}


def test_steps_give_each_change_a_paired_interval():
    table = curve(runs(pool_output()), x="unlabeled_size")
    assert table["rev"].tolist() == ["p0", "p10", "p50"]
    rng = np.random.default_rng(0)
    base = rng.random(2000) < 0.8
    improved = base | (rng.random(2000) < 0.3)
    per_text = {"p0": base, "p10": improved, "p50": improved.copy()}
    changes = steps(table, lambda rev, model: per_text[rev], "unlabeled_size", 1000, seed=0)
    assert changes[["unlabeled_size_from", "unlabeled_size_to"]].values.tolist() == [
        [0, 10],
        [10, 50],
    ]
    first, second = changes.iloc[0], changes.iloc[1]
    assert first["lr_distilled"] == pytest.approx(improved.mean() - base.mean())
    assert 0 < first["lr_distilled_ci_low"] < first["lr_distilled"] < first["lr_distilled_ci_high"]
    # the same per-text hits: no change, and the paired interval is exactly zero
    assert (second["teacher"], second["teacher_ci_low"], second["teacher_ci_high"]) == (0, 0, 0)
    per_text["p50"] = per_text["p50"][:-1]
    with pytest.raises(UserError, match="runs p10 and p50 scored other test sets"):
        steps(table, lambda rev, model: per_text[rev], "unlabeled_size", 1000, seed=0)


def test_run_hits_reads_a_runs_committed_confusion_rows(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    path = tmp_path / CONFUSION.format(model="tree_baseline")
    path.parent.mkdir(parents=True)
    git("init", "-q")
    revs = []
    for predicted in ([1, 0, 0, 1], [1, 1, 0, 0]):
        rows = [f"{actual},{guess}" for actual, guess in zip([1, 1, 0, 0], predicted, strict=True)]
        path.write_text("actual,predicted\n" + "\n".join(rows) + "\n")
        git("add", ".")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "run")
        revs.append(subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=tmp_path, text=True))
    first, second = (run_hits(tmp_path, rev.strip(), "tree_baseline") for rev in revs)
    assert first.tolist() == [True, False, True, False]
    assert second.tolist() == [True, True, True, True]
    path.write_text("actual,predicted\n1,0\n0,0\n")  # not committed: the working tree's run
    assert run_hits(tmp_path, "workspace", "tree_baseline").tolist() == [False, True]
    with pytest.raises(UserError, match="cannot read plots/evaluate/confusion/lr_baseline.csv"):
        run_hits(tmp_path, revs[0].strip(), "lr_baseline")


def test_the_working_tree_counts_only_when_up_to_date(tmp_path):
    """While params.yaml says one thing and the metrics another (an edit not reproduced, or an
    experiment running in the working tree), exp show's workspace row is no run."""

    def tool(*args):
        subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)

    tool("git", "init", "-q", "-b", "main")
    tool("dvc", "init", "-q")
    (tmp_path / "params.yaml").write_text("prepare:\n  train_size: 10\n")
    write_size = (
        "import json, yaml; size = yaml.safe_load(open('params.yaml'))['prepare']['train_size'];"
        " json.dump({'size': size}, open('size.json', 'w'))"
    )
    command = f'{sys.executable} -c "{write_size}"'
    tool("dvc", "stage", "add", "-q", "-n", "count", "-p", "prepare.train_size",
         "-M", "size.json", command)  # fmt: skip
    tool("dvc", "repro", "-q")
    tool("git", "add", ".")
    tool("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "run")
    rows = {run.name: run for run in finished_runs(tmp_path)}
    assert set(rows) == {"workspace", "main"}
    assert rows["workspace"].metrics["size.json"] == {"size": 10}
    (tmp_path / "params.yaml").write_text("prepare:\n  train_size: 5000\n")
    names = [run.name for run in finished_runs(tmp_path)]
    assert "workspace" not in names
    assert len(names) == 1


def test_nothing_finished_gives_an_empty_table_with_every_column():
    table = curve(runs([{"rev": "workspace", "data": {"params": {}, "metrics": {}}}]))
    assert table.empty
    assert list(table.columns) == COLUMNS


def test_merge_keeps_other_sizes_and_replaces_the_same_size():
    table = curve(runs(exp_show_output()))
    earlier = table.iloc[[0, 2]].assign(experiment=["old-small", "old-default"])
    newer = table.iloc[[2, 3]]
    merged = merge(earlier, newer, "train_size", "curve.csv")
    assert merged["train_size"].tolist() == [500, 2000, 5000]
    assert merged["experiment"].tolist() == ["old-small", "main", "exp-large"]


def test_merge_drops_earlier_rows_of_an_uncommitted_working_tree():
    table = curve(runs(exp_show_output()))
    earlier = table.iloc[[0, 3]].assign(rev=["workspace", "e1"])
    merged = merge(earlier, table.iloc[[2]], "train_size", "curve.csv")
    assert merged["train_size"].tolist() == [2000, 5000]
    assert "workspace" not in merged["rev"].tolist()


def test_an_added_empty_key_keeps_the_setting_and_a_changed_value_does_not():
    params = {
        "seed": 42,
        "prepare": {"train_size": 500, "test_size": 5000},
        "finetune_teacher": {"lr": 1e-4, "batch_tokens": None},
    }
    digest = setting_digest(params, ("prepare", "train_size"))
    added = params | {"finetune_teacher": params["finetune_teacher"] | {"seed": None}}
    assert setting_digest(added, ("prepare", "train_size")) == digest
    swept = params | {"prepare": {"train_size": 5000, "test_size": 5000}}
    assert setting_digest(swept, ("prepare", "train_size")) == digest
    for changed in (
        params | {"finetune_teacher": {"lr": 1e-4, "batch_tokens": None, "seed": 1}},
        params | {"prepare": {"train_size": 500, "test_size": None}},
        params | {"seed": 43},
    ):
        assert setting_digest(changed, ("prepare", "train_size")) != digest


def test_merge_refuses_another_setting_or_layout():
    table = curve(runs(exp_show_output()))
    other = curve(runs(exp_show_output()), reference="exp-pool")
    with pytest.raises(UserError, match="curve.csv holds runs of another setting"):
        merge(table, other, "train_size", "curve.csv")
    old_layout = table[["train_size", "experiment", *MODELS]]
    with pytest.raises(UserError, match="curve.csv has other columns"):
        merge(old_layout, table, "train_size", "curve.csv")


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


def write_confusion(folder: Path, predicted: dict[str, list[int]], actual: list[int]) -> None:
    """A run's confusion files as evaluate writes them, for each model's predicted classes."""
    names = ["negative", "positive"]
    for model in MODELS:
        rows = pd.DataFrame(
            {
                "actual": [names[label] for label in actual],
                "predicted": [names[label] for label in predicted.get(model, actual)],
            }
        )
        path = folder / CONFUSION.format(model=model)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(path, index=False)


def test_compare_runs_tells_a_real_change_from_a_tie(tmp_path):
    rng = np.random.default_rng(0)
    actual = rng.integers(0, 2, 400).tolist()
    flipped = [1 - label if index % 3 == 0 else label for index, label in enumerate(actual)]
    one_flip = [1 - actual[0], *actual[1:]]
    # before: every model right; after: lr_baseline wrong on a third, svm_baseline on one text
    write_confusion(tmp_path / "before", {}, actual)
    write_confusion(tmp_path / "after", {"lr_baseline": flipped, "svm_baseline": one_flip}, actual)
    command = [sys.executable, str(ROOT / "tools/compare_runs.py"), "--resamples", "500"]
    command += ["--before", "workspace", "--before-repo", str(tmp_path / "before")]
    command += ["--after", "workspace", "--after-repo", str(tmp_path / "after")]
    subprocess.run([*command, "--out", str(tmp_path / "diff.json")], check=True)
    rows = json.loads((tmp_path / "diff.json").read_text())["models"]
    lower = rows["lr_baseline"]
    assert lower["accuracy_difference"] == pytest.approx(-np.mean(np.arange(400) % 3 == 0))
    assert lower["accuracy_difference_ci"][1] < 0 and not lower["accuracy_tie"]
    assert rows["svm_baseline"]["accuracy_tie"] and rows["teacher"]["accuracy_tie"]
    assert rows["svm_baseline"]["accuracy_difference"] == pytest.approx(-1 / 400)
    assert lower["after_agreement"] == pytest.approx(1 - np.mean(np.arange(400) % 3 == 0))
    short = tmp_path / "short"
    write_confusion(short, {}, actual[:10])
    command[command.index(str(tmp_path / "after"))] = str(short)
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "compare runs of the same test split" in result.stderr
    assert "Traceback" not in result.stderr
