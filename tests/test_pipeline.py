"""End to end: `dvc repro` of the real dvc.yaml on tiny params, in a temp copy of the repo."""

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
from conftest import tiny_params

from bertdistill.profiles import compose

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "metrics/prepare.json": ["train_size", "validation_size", "test_size", "unlabeled_size"],
    "metrics/teacher.json": ["best_epoch", "val_accuracy"],
    "metrics/students.json": ["transfer_size", "tfidf_features"],
    "metrics/evaluate.json": [
        f"{model}_{key}"
        for model in (
            "teacher",
            "lr_baseline",
            "lr_distilled",
            "svm_baseline",
            "svm_distilled",
            "tree_baseline",
            "tree_distilled",
        )
        for key in ("accuracy", "f1", "roc_auc", "agreement", "size_bytes")
    ],
    "metrics/explain.json": ["lr_distilled_top3_overlap", "teacher_local_fit"],
}


def run(*command: str, cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    return result.stdout


def make_repo(folder: Path, params: dict) -> Path:
    """A fresh git + DVC repo holding the project's tracked files and ``params``, run once."""
    tracked = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).splitlines()
    for name in tracked:
        source = ROOT / name
        if source.is_file() and not name.startswith(("metrics/", "plots/", "dvc.lock")):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    # The tiny settings become a Hydra profile and the default, so `dvc exp run -S` recomposes
    # them (as it does conf/ in the project) rather than the real-data CPU profile.
    params = {**params, "profile": "tiny"}
    (folder / "conf/profile/tiny.yaml").write_text("# @package _global_\n" + yaml.safe_dump(params))
    config = folder / "conf/config.yaml"
    config.write_text(config.read_text().replace("- profile: cpu", "- profile: tiny"))
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    run("git", "init", "-q", cwd=folder)
    run("dvc", "repro", cwd=folder)
    run("git", "add", "-A", cwd=folder)
    git_user = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    run("git", *git_user, "commit", "-qm", "tiny run", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_imdb, tiny_bert) -> Path:
    return make_repo(tmp_path_factory.mktemp("repo"), tiny_params(tiny_imdb, tiny_bert))


def output_hashes(folder: Path) -> dict[str, str]:
    """Every output's hash in dvc.lock, timing files (which vary run to run) left out."""
    lock = yaml.safe_load((folder / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if "timings/" not in out["path"]
    }


def test_two_clean_runs_give_identical_outputs(repo, tmp_path, tiny_imdb, tiny_bert):
    """Same params, CPU: every output but the timing files is byte-identical."""
    again = make_repo(tmp_path / "again", tiny_params(tiny_imdb, tiny_bert))
    first, second = output_hashes(repo), output_hashes(again)
    assert len(first) > 20
    assert {path: digest for path, digest in second.items() if first.get(path) != digest} == {}


def test_repro_writes_every_metrics_file_with_finite_values(repo):
    for path, keys in METRICS.items():
        metrics = json.loads((repo / path).read_text())
        for key in keys:
            assert math.isfinite(metrics[key]), f"{path}: {key}"
    report = (repo / "metrics/report.md").read_text()
    assert "Decision tree, distilled" in report
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert list(lock["stages"]) == [
        "prepare",
        "finetune_teacher",
        "label_with_teacher",
        "distill_students",
        "evaluate",
        "explain",
    ]


def test_second_repro_is_up_to_date(repo):
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)
    output = run("dvc", "repro", cwd=repo)
    assert "Running stage" not in output


def test_student_param_change_reruns_only_downstream_stages(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["distill_students"]["lr_C"] = 0.01
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    output = run("dvc", "repro", cwd=repo)
    for stage in ("distill_students", "evaluate", "explain"):
        assert f"Running stage '{stage}'" in output
    for stage in ("prepare", "finetune_teacher", "label_with_teacher"):
        assert f"Stage '{stage}' didn't change, skipping" in output
    diff = json.loads(run("dvc", "metrics", "diff", "--all", "--json", cwd=repo))
    assert "lr_baseline_accuracy" in diff["metrics/evaluate.json"]
    params_diff = json.loads(run("dvc", "params", "diff", "--json", cwd=repo))
    assert params_diff["params.yaml"]["distill_students.lr_C"]["new"] == 0.01


def test_a_train_size_experiment_lands_in_the_label_efficiency_table(repo):
    # An edit to params.yaml alone is undone: Hydra recomposes conf/ plus the override.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["explain"]["top_k"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    run("dvc", "exp", "run", "-S", "prepare.train_size=16", cwd=repo)
    composed = yaml.safe_load((repo / "params.yaml").read_text())
    assert composed == yaml.safe_load(compose(["prepare.train_size=16"], repo / "conf"))
    assert (composed["profile"], composed["prepare"]["train_size"]) == ("tiny", 16)
    assert composed["explain"]["top_k"] != 2
    run(sys.executable, str(ROOT / "tools/label_efficiency.py"), cwd=repo)
    table = pd.read_csv(repo / "plots/label_efficiency.csv")
    assert table["train_size"].tolist() == [16, 24]
    workspace = json.loads((repo / "metrics/evaluate.json").read_text())
    row = table.set_index("train_size").loc[16]
    assert row["teacher"] == workspace["teacher_accuracy"]  # exp run leaves its results there
    assert 0 <= row["lr_distilled"] <= 1
