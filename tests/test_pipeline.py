"""End to end: `dvc repro` of the real dvc.yaml on tiny params, in temp copies of the repo.

One repo is built and run once per module; every test that changes something works on its own
copy, so no test's outcome depends on another's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import NLI_CLASSES, pair_task, tiny_params, write_tiny_pairs

from bertdistill.registry import KINDS, MODEL_NAMES

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["prepare", "finetune_teacher", "label_with_teacher", "distill_students", "evaluate"]
STAGES += ["explain_teacher", "explain"]
METRICS = {
    "metrics/prepare.json": ["train_size", "validation_size", "test_size", "unlabeled_size"],
    "metrics/teacher.json": ["best_epoch", "val_accuracy"],
    "metrics/students.json": ["transfer_size", "tfidf_features"],
    "metrics/evaluate.json": [
        f"{model}_{key}"
        for model in MODEL_NAMES
        for key in ("accuracy", "f1", "roc_auc", "agreement", "size_bytes")
    ],
    "metrics/explain.json": [
        "lr_distilled_top3_overlap",
        "tree_distilled_deletion_fidelity_ci_low",
        "teacher_integrated_gradients_comprehensiveness",
        "svm_baseline_exact_sufficiency",
        "teacher_random_comprehensiveness",
    ],
}
# Written by the tiny run itself, or by DVC for the project's own data import.
NOT_COPIED = ("metrics/", "plots/", "dvc.lock", "data/imdb.dvc", "data/snli.dvc", "data/.gitignore")


def run(*command: str, cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    return result.stdout + result.stderr


def make_repo(folder: Path, source: Path, params: dict) -> Path:
    """A fresh git + DVC repo holding the project's tracked files and ``params``, run once. The
    tiny data enters through DVC as the default data does (`dvc import-url` to data/imdb)."""
    tracked = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).splitlines()
    for name in tracked:
        if (ROOT / name).is_file() and not name.startswith(NOT_COPIED):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    params["prepare"]["source"] = "data/imdb"
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", cwd=folder)
    run("dvc", "import-url", "-q", str(source), "data/imdb", cwd=folder)
    run("dvc", "repro", cwd=folder)
    commit(folder, "tiny run")
    return folder


def commit(folder: Path, message: str) -> None:
    run("git", "add", "-A", cwd=folder)
    git_user = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    run("git", *git_user, "commit", "-qm", message, cwd=folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_imdb, tiny_bert) -> Path:
    """The tiny pipeline run once; tests only read it (those that change things copy it)."""
    return make_repo(tmp_path_factory.mktemp("repo"), tiny_imdb, tiny_params(tiny_imdb, tiny_bert))


@pytest.fixture
def repo(built, tmp_path) -> Path:
    """This test's own copy of the built repo (git history, DVC cache and outputs)."""

    def skip_dvc_tmp(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if folder.endswith(".dvc") else []

    return Path(shutil.copytree(built, tmp_path / "repo", symlinks=True, ignore=skip_dvc_tmp))


def output_hashes(folder: Path) -> dict[str, str]:
    """Every output's hash in dvc.lock, timing files (which vary run to run) left out."""
    lock = yaml.safe_load((folder / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if "timings/" not in out["path"]
    }


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def test_two_clean_runs_give_identical_outputs(built, tmp_path, tiny_imdb, tiny_bert):
    """Same params, CPU: every output but the timing files is byte-identical."""
    again = make_repo(tmp_path / "again", tiny_imdb, tiny_params(tiny_imdb, tiny_bert))
    first, second = output_hashes(built), output_hashes(again)
    assert len(first) > 20
    assert {path: digest for path, digest in second.items() if first.get(path) != digest} == {}


def test_repro_writes_every_metrics_file_and_the_students_learn_from_the_teacher(built):
    for path, keys in METRICS.items():
        metrics = json.loads((built / path).read_text())
        for key in keys:
            assert math.isfinite(metrics[key]), f"{path}: {key}"
    lock = yaml.safe_load((built / "dvc.lock").read_text())
    assert list(lock["stages"]) == STAGES
    # Quality on the tiny data (a few sentiment words carry the label; 20 test texts): the
    # gold-label LR finds those words (0.95 here), the 2-layer teacher trained for two epochs on
    # 24 texts beats chance (0.70 here), and each distilled student, fitted to the teacher's
    # logits over 4x the texts, agrees with the teacher at least as often as its gold-label twin
    # does, and more often on average (0.75/0.80/0.70 against 0.65/0.65/0.50 here).
    scores = json.loads((built / "metrics/evaluate.json").read_text())
    assert scores["lr_baseline_accuracy"] >= 0.9
    assert scores["teacher_accuracy"] > 0.6
    distilled = [scores[f"{kind}_distilled_agreement"] for kind in KINDS]
    baseline = [scores[f"{kind}_baseline_agreement"] for kind in KINDS]
    assert all(d >= b for d, b in zip(distilled, baseline, strict=True))
    assert sum(distilled) > sum(baseline)
    report = (built / "metrics/report.md").read_text()
    assert "Decision tree, distilled" in report and "IMDB test texts" in report


def test_second_repro_is_up_to_date(repo):
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)
    assert ran_stages(run("dvc", "repro", cwd=repo)) == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("explain.top_k=2", ["explain"]),
        ("explain.ig_steps=2", ["explain_teacher", "explain"]),
        ("distill_students.lr_C=0.01", ["distill_students", "evaluate", "explain"]),
        ("inference.precision=int8", STAGES[2:]),
    ],
)
def test_an_experiment_reruns_only_the_stages_that_read_the_changed_key(repo, setting, expected):
    output = run("dvc", "exp", "run", "-S", setting, cwd=repo)
    assert ran_stages(output) == expected
    for stage in set(STAGES) - set(expected):
        assert f"Stage '{stage}' didn't change, skipping" in output
    key, value = setting.split("=")
    params_diff = json.loads(run("dvc", "params", "diff", "--json", cwd=repo))
    assert str(params_diff["params.yaml"][key]["new"]) == value


def test_a_student_change_shows_in_metrics_diff(repo):
    run("dvc", "exp", "run", "-S", "distill_students.lr_C=0.01", cwd=repo)
    diff = json.loads(run("dvc", "metrics", "diff", "--all", "--json", cwd=repo))
    assert "lr_baseline_accuracy" in diff["metrics/evaluate.json"]


def test_a_temp_experiment_finds_the_data_and_keeps_a_params_yaml_edit(repo):
    """DVC runs --temp (and --queue) experiments in a copy of the repo: the data reaches it
    through DVC's cache, and an edit to params.yaml, the one file of settings, goes with it."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["explain"]["top_k"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("dvc", "exp", "run", "--temp", "-S", "prepare.train_size=16", cwd=repo)
    assert yaml.safe_load((repo / "params.yaml").read_text())["explain"]["top_k"] == 2
    shown = json.loads(run("dvc", "exp", "show", "--json", cwd=repo))
    experiments = [
        exp["revs"][0]["data"]
        for commit_row in shown
        for exp in commit_row.get("experiments") or []
    ]
    assert len(experiments) == 1
    exp_params = experiments[0]["params"]["params.yaml"]["data"]
    assert (exp_params["prepare"]["train_size"], exp_params["explain"]["top_k"]) == (16, 2)
    run(sys.executable, str(ROOT / "tools/label_efficiency.py"), cwd=repo)
    table = pd.read_csv(repo / "plots/label_efficiency.csv")
    assert table["train_size"].tolist() == [16, 24]
    committed = json.loads((repo / "metrics/evaluate.json").read_text())
    row = table.set_index("train_size").loc[24]
    assert row["teacher"] == committed["teacher_accuracy"]


def test_a_tiny_pair_task_of_three_classes_runs_end_to_end(tmp_path, tiny_bert):
    """SNLI's shape: pairs of three named classes, train, validation and unlabelled pairs cut
    from one file, every stage, then nothing left to run."""
    source = write_tiny_pairs(tmp_path / "pairs", dev_size=120)
    params = tiny_params(source, tiny_bert)
    params["prepare"] |= {"dataset": "tiny pairs"} | pair_task(unlabeled_size=60)
    params["augment"]["n_augment"] = 0
    repo = make_repo(tmp_path / "repo", source, params)
    evaluated = json.loads((repo / "metrics/evaluate.json").read_text())
    for model in MODEL_NAMES:
        keys = ["macro_f1", "roc_auc", *(f"accuracy_{name}" for name in NLI_CLASSES)]
        assert all(0 <= evaluated[f"{model}_{key}"] <= 1 for key in keys), model
    assert evaluated["test_size"] == 30
    explained = json.loads((repo / "metrics/explain.json").read_text())
    assert all(key in explained for key in METRICS["metrics/explain.json"])
    assert "## Accuracy per class" in (repo / "metrics/report.md").read_text()
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)
