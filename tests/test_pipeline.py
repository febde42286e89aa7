"""End to end: `dvc repro` of the real dvc.yaml on tiny params, in temp copies of the repo.

One repo is built and run once per module; every test that changes something works on its own
copy, so no test's outcome depends on another's.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import (
    NLI_CLASSES,
    ROOT,
    STAGES,
    make_repo,
    output_hashes,
    pair_task,
    ran_stages,
    run,
    run_predict,
    tiny_params,
    write_tiny_pairs,
)

from bertdistill.core import dvc_stages
from bertdistill.core.registry import KINDS, MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.core.tables import frame_texts
from bertdistill.students.files import load_students

GAIN = ["gain", "gain_ci_low", "gain_ci_high"]  # the headline rows' distilled minus gold-label
METRICS = {
    "metrics/prepare.json": ["train_size", "validation_size", "test_size", "unlabeled_size"],
    "metrics/teacher.json": ["best_epoch", "val_accuracy"],
    "metrics/students.json": ["transfer_size", "tfidf_features"],
    "metrics/trees.json": ["transfer_size", "tree_distilled_val_accuracy"],
    "metrics/evaluate.json": [
        f"{model}_{key}"
        for model in MODEL_NAMES
        for key in ("accuracy", "f1", "roc_auc", "agreement", "size_bytes")
    ],
    "metrics/accuracy/teacher.json": ["accuracy"],
    **{
        f"metrics/{measure}/{kind}.json": ["baseline", "distilled", *GAIN]
        for measure in ("accuracy", "overlap", "fidelity")
        for kind in KINDS
    },
    "metrics/training/metrics.json": ["step", "train_loss", "val_loss", "val_accuracy"],
    "metrics/explain.json": [
        "lr_distilled_top3_overlap",
        "tree_distilled_deletion_fidelity_ci_low",
        "teacher_integrated_gradients_comprehensiveness",
        "svm_baseline_exact_sufficiency",
        "teacher_random_comprehensiveness",
    ],
}
pytestmark = pytest.mark.slow


@pytest.fixture
def built(tiny_run) -> Path:
    """The tiny pipeline, run once per session (conftest's ``tiny_run``)."""
    return tiny_run


def test_every_stage_run_again_gives_identical_outputs(built, tmp_path):
    """Same params, CPU: every stage's command run again in a fresh folder, stage by stage,
    writes every output but the timing files byte for byte as the `dvc repro` run did."""
    folder = tmp_path / "again"
    folder.mkdir()
    shutil.copy2(built / "params.yaml", folder / "params.yaml")
    (folder / "data").mkdir()
    (folder / "data/imdb").symlink_to(built / "data/imdb")
    for stage in STAGES:
        run(*dvc_stages.stage_command(ROOT, stage), cwd=folder)
    outputs = [path for path in output_hashes(built) if not path.startswith("data/imdb")]
    assert len(outputs) > 20
    differing = [path for path in outputs if not same_tree(built / path, folder / path)]
    assert differing == []


def same_tree(first: Path, second: Path) -> bool:
    """Whether two files, or two folders file by file, hold the same bytes."""
    if first.is_file():
        return second.is_file() and first.read_bytes() == second.read_bytes()
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    theirs = sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    return files == theirs and all(same_tree(first / name, second / name) for name in files)


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
        ("size_frontier.shown_leaves=4", ["size_frontier"]),
        (
            "distill_students.lr_C=0.01",
            ["distill_students", "evaluate", "size_frontier", "explain"],
        ),
        (
            "distill_students.tree_max_depth=3",
            ["distill_trees", "evaluate", "size_frontier", "explain"],
        ),
        ("inference.precision=int8", STAGES[3:]),
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
    if key.startswith("distill_students"):  # a student change shows in metrics diff
        diff = json.loads(run("dvc", "metrics", "diff", "--all", "--json", cwd=repo))
        assert "baseline" in diff["metrics/accuracy/lr.json"]


def widest_line(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_dvc_shows_the_headline_metrics_readably(repo, monkeypatch):
    """`dvc metrics show` and `dvc metrics diff` print the declared headline figures only (a row
    per model kind: accuracy, overlap and fidelity with the distilled-minus-gold gains and their
    intervals; fine-tuning's last step), not the detail files, timings or plot data, in a
    200-column terminal; `make exps` shows experiments as narrowly. The detail is one target
    away."""
    monkeypatch.setenv("COLUMNS", "200")  # the terminal's width, for DVC's exp show table
    run("dvc", "exp", "run", "-S", "distill_students.lr_C=0.01", cwd=repo)
    shown = json.loads(run("dvc", "metrics", "show", "--json", cwd=repo))
    files = {path for rev in shown.values() for path in rev["data"]}
    assert files == {path for path in METRICS if "/" in path.removeprefix("metrics/")}
    columns = {
        key for found in next(iter(shown.values()))["data"].values() for key in found["data"]
    }
    assert columns == {
        "accuracy",
        "baseline",
        "distilled",
        *GAIN,
        "step",
        "train_loss",
        "val_loss",
        "val_accuracy",
    }
    for command in (
        ("dvc", "metrics", "show"),
        ("dvc", "metrics", "diff", "HEAD"),
        ("make", "--no-print-directory", "exps", f"VENV={sys.prefix}"),
    ):
        printed = run(*command, cwd=repo)
        assert widest_line(printed) <= 200, (command, printed)
        assert "evaluate.json" not in printed and "timings" not in printed, command
    exps = run("make", "--no-print-directory", "exps", f"VENV={sys.prefix}", cwd=repo)
    assert "distill_students.lr_C" in exps and "metrics/accuracy/lr.json:gain" in exps
    assert "…" not in exps and "0.01" in exps
    detail = json.loads(run("dvc", "metrics", "show", "--json", "metrics/evaluate.json", cwd=repo))
    assert "lr_baseline_f1" in next(iter(detail.values()))["data"]["metrics/evaluate.json"]["data"]


def test_a_temp_experiment_finds_the_data_and_keeps_a_params_yaml_edit(repo):
    """DVC runs --temp (and --queue) experiments in a copy of the repo: the data reaches it
    through DVC's cache, and an edit to params.yaml, the one file of settings, goes with it."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["explain"]["top_k"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("dvc", "exp", "run", "--temp", "-S", "distill_students.unlabeled_limit=20", cwd=repo)
    assert yaml.safe_load((repo / "params.yaml").read_text())["explain"]["top_k"] == 2
    shown = json.loads(run("dvc", "exp", "show", "--json", cwd=repo))
    experiments = [
        exp["revs"][0]["data"]
        for commit_row in shown
        for exp in commit_row.get("experiments") or []
    ]
    assert len(experiments) == 1
    exp_params = experiments[0]["params"]["params.yaml"]["data"]
    students = exp_params["distill_students"]
    assert (students["unlabeled_limit"], exp_params["explain"]["top_k"]) == (20, 2)
    tool = str(ROOT / "tools/label_efficiency.py")
    run(sys.executable, tool, cwd=repo)  # by train_size: one labelled size so far, one row
    assert pd.read_csv(repo / "plots/label_efficiency.csv")["train_size"].tolist() == [24]
    run(sys.executable, tool, "--by", "unlabeled_size", cwd=repo)
    table = pd.read_csv(repo / "plots/unlabeled_pool.csv")
    assert table["unlabeled_size"].tolist() == [20, 40]
    committed = json.loads((repo / "metrics/evaluate.json").read_text())
    row = table.set_index("unlabeled_size").loc[40]
    assert row["teacher"] == committed["teacher_accuracy"]


def test_a_tiny_pair_task_of_three_classes_runs_end_to_end_and_predicts(tmp_path, tiny_bert):
    """SNLI's shape: pairs of three named classes, train, validation and unlabelled pairs cut
    from one file, 2 synthetic variants per labelled pair, every stage, then nothing left to
    run; predict reads pairs."""
    source = write_tiny_pairs(tmp_path / "pairs", dev_size=120)
    params = tiny_params(source, tiny_bert)
    params["prepare"] |= {"dataset": "tiny pairs"} | pair_task(unlabeled_size=60)
    repo = make_repo(tmp_path / "repo", source, params)
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)
    train = pd.read_parquet(repo / "data/prepared/train.parquet")
    assert list(train.columns) == ["id", "text", "text_pair", "label"]
    assert sorted(train["label"].unique()) == [0, 1, 2]
    prepared = json.loads((repo / "metrics/prepare.json").read_text())
    assert prepared["unlabeled_size"] == 60 and prepared["test_size"] == 30
    assert {f"train_share_{name}" for name in NLI_CLASSES} <= set(prepared)
    assert "train_positive_share" not in prepared
    assert json.loads((repo / "metrics/teacher.json").read_text())["val_accuracy"] > 0
    columns = ["id", *(f"teacher_logit_{k}" for k in range(3))]
    variants = pd.read_parquet(repo / "data/logits/augmented.parquet")
    assert len(variants) == 2 * len(train)
    assert {"text", "text_pair", "student_text", *columns[1:]} <= set(variants.columns)
    for text in variants["student_text"]:  # the students' view of a pair: its spaced words
        tokens = text.split()
        assert all(t.startswith(("p_", "h_", "new_", "neg_", "overlap_")) for t in tokens), text
        assert sum(t.startswith("overlap_") for t in tokens) == 1 and "mask" not in text.lower()
    for split in ("train", "validation", "test", "unlabeled"):
        logits = pd.read_parquet(repo / f"data/logits/{split}.parquet")
        split_rows = pd.read_parquet(repo / f"data/prepared/{split}.parquet")
        assert list(logits.columns) == columns
        assert logits["id"].tolist() == split_rows["id"].tolist()
        assert logits[columns[1:]].notna().all().all()
    students = json.loads((repo / "metrics/students.json").read_text())
    students |= json.loads((repo / "metrics/trees.json").read_text())
    assert all(students[f"{name}_val_accuracy"] > 0 for name in STUDENT_NAMES)
    evaluated = json.loads((repo / "metrics/evaluate.json").read_text())
    test = pd.read_parquet(repo / "data/prepared/test.parquet")
    for name in MODEL_NAMES:
        keys = ["macro_f1", "roc_auc", *(f"accuracy_{label}" for label in NLI_CLASSES)]
        assert all(0 <= evaluated[f"{name}_{key}"] <= 1 for key in keys), name
        assert f"{name}_f1" not in evaluated
        confusion = pd.read_csv(repo / f"plots/evaluate/confusion/{name}.csv")
        assert confusion["actual"].tolist() == [NLI_CLASSES[k] for k in test["label"]]
        assert set(confusion["predicted"]) <= set(NLI_CLASSES)
        hits = (confusion["actual"] == confusion["predicted"]).mean()
        assert evaluated[f"{name}_accuracy"] == hits
        for index, label in enumerate(NLI_CLASSES):
            rows = confusion[test["label"] == index]
            share = (rows["predicted"] == label).mean()
            assert evaluated[f"{name}_accuracy_{label}"] == pytest.approx(share)
    assert evaluated["test_size"] == 30
    report = (repo / "metrics/report.md").read_text()
    assert "## Accuracy per class" in report and "macro-F1" in report
    explained = json.loads((repo / "metrics/explain.json").read_text())
    assert all(key in explained for key in METRICS["metrics/explain.json"])
    for model in MODEL_NAMES:
        for measure in ("comprehensiveness", "sufficiency"):
            assert math.isfinite(explained[f"{model}_random_{measure}"])
    assert math.isfinite(explained["lr_distilled_vs_lr_baseline_deletion_fidelity_diff"])
    records = json.loads((repo / "reports/explain/explanations.json").read_text())
    for record in records:
        assert record["label_name"] == NLI_CLASSES[record["label"]]
        assert record["explained"] in NLI_CLASSES
        words = [word for word, _ in record["models"][TEACHER]["methods"]["integrated_gradients"]]
        assert words and all(word.startswith(("p_", "h_")) for word in words)
    page = (repo / "reports/explain/index.html").read_text()
    assert "<b>premise</b>" in page and "<b>hypothesis</b>" in page
    coefficients = pd.read_csv(repo / "plots/explain/coefficients/svm_distilled.csv")
    named = {ngram.split(": ")[0] for ngram in coefficients["ngram"]}
    assert named == set(NLI_CLASSES)  # each class's strongest n-grams, named by class
    frontier = json.loads((repo / "metrics/size_frontier.json").read_text())
    for name in STUDENT_NAMES:
        assert frontier[f"{name}_all_accuracy"] == pytest.approx(evaluated[f"{name}_accuracy"]), (
            name
        )
    shown = (repo / "metrics/size_frontier.md").read_text()
    assert f"| n-gram | {' | '.join(NLI_CLASSES)} |" in shown  # a weight per class
    assert_predict_reads_pairs(repo, frame_texts(test.head(4)))


def assert_predict_reads_pairs(repo: Path, pairs: list[tuple[str, str]]) -> None:
    """predict on pairs given as arguments and in a tab-separated file, with every class named."""
    (repo / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in pairs[1:]))
    students = load_students(repo / "models/students", names=["lr_distilled"])
    expected = students.logits("lr_distilled", pairs).argmax(axis=1)
    for model in ("lr_distilled", "teacher"):
        rows = []
        for source in (("--pair", *pairs[0]), ("--file", "pairs.tsv")):
            result = run_predict("--model", model, "--json", *source, cwd=repo)
            assert result.returncode == 0, result.stderr
            rows += [json.loads(line) for line in result.stdout.splitlines()]
        assert [(row["text"], row["text_pair"]) for row in rows] == pairs
        for row in rows:
            assert list(row["probabilities"]) == list(NLI_CLASSES)
            assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-3)
            assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
        if model == "lr_distilled":
            assert [row["label"] for row in rows] == [NLI_CLASSES[k] for k in expected]
    explained = run_predict("--explain", "--json", "--pair", *pairs[0], cwd=repo)
    row = json.loads(explained.stdout)
    assert row["top_words"] and all(w.startswith(("p_", "h_")) for w, _ in row["top_words"])
