"""Each stage script run as DVC runs it (a subprocess), on temp paths and tiny params."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import default_sigint, dropout_free_copy, synthetic_reviews, tiny_params

from bertdistill.data import clean_text

ROOT = Path(__file__).resolve().parents[1]


def run_stage(name: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{name}.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed:\n{result.stderr[-3000:]}")
    return result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_imdb, tiny_bert) -> Path:
    """Run the six stages in order, as dvc.yaml wires them, in a temp folder."""
    work = tmp_path_factory.mktemp("stages")
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(tiny_imdb, tiny_bert)))
    splits = ("train", "validation", "test", "unlabeled")
    run_stage(
        "prepare",
        "--out-dir", "data/prepared", "--metrics", "metrics/prepare.json",
        "--timing", "metrics/timings/prepare.json",
        cwd=work,
    )  # fmt: skip
    run_stage(
        "finetune_teacher",
        "--train", "data/prepared/train.parquet",
        "--validation", "data/prepared/validation.parquet",
        "--out", "models/teacher", "--metrics", "metrics/teacher.json",
        "--plots-dir", "plots/teacher",
        "--timing", "metrics/timings/finetune_teacher.json",
        cwd=work,
    )  # fmt: skip
    label_args = []
    for split in splits:
        label_args += ["--split", f"data/prepared/{split}.parquet", f"data/logits/{split}.parquet"]
    run_stage(
        "label_with_teacher", "--teacher", "models/teacher", *label_args,
        "--augment", "data/prepared/train.parquet", "data/logits/augmented.parquet",
        "--timing", "metrics/timings/label_with_teacher.json",
        cwd=work,
    )  # fmt: skip
    run_stage(
        "distill_students",
        "--train", "data/prepared/train.parquet", "data/logits/train.parquet",
        "--unlabeled", "data/prepared/unlabeled.parquet", "data/logits/unlabeled.parquet",
        "--augmented", "data/logits/augmented.parquet",
        "--validation", "data/prepared/validation.parquet",
        "--out", "models/students", "--metrics", "metrics/students.json",
        "--timing", "metrics/timings/distill_students.json",
        cwd=work,
    )  # fmt: skip
    run_stage(
        "evaluate",
        "--test", "data/prepared/test.parquet", "data/logits/test.parquet",
        "--teacher", "models/teacher", "--students", "models/students",
        "--metrics", "metrics/evaluate.json", "--report", "metrics/report.md",
        "--plots-dir", "plots/evaluate", "--timing", "metrics/timings/evaluate.json",
        cwd=work,
    )  # fmt: skip
    run_stage(
        "explain",
        "--test", "data/prepared/test.parquet", "--teacher", "models/teacher",
        "--students", "models/students", "--out", "reports/explain",
        "--metrics", "metrics/explain.json", "--plots-dir", "plots/explain",
        "--timing", "metrics/timings/explain.json",
        cwd=work,
    )  # fmt: skip
    return work


def test_prepare_writes_the_four_splits(workdir):
    metrics = read_json(workdir / "metrics/prepare.json")
    assert metrics["train_size"] == 24 and metrics["test_size"] == 20
    for split in ("train", "validation", "test", "unlabeled"):
        frame = pd.read_parquet(workdir / f"data/prepared/{split}.parquet")
        assert list(frame.columns) == ["id", "text", "label"]
        assert len(frame) == metrics[f"{split}_size"]


def test_finetune_teacher_saves_safetensors_and_curves(workdir):
    teacher = workdir / "models/teacher"
    assert {"model.safetensors", "config.json", "teacher.json", "tokenizer.json"} <= {
        path.name for path in teacher.iterdir()
    }
    metrics = read_json(workdir / "metrics/teacher.json")
    assert metrics["best_epoch"] in (1, 2) and 0 <= metrics["val_accuracy"] <= 1
    curve = pd.read_csv(workdir / "plots/teacher/train_loss.csv")
    assert list(curve["step"]) == list(range(1, len(curve) + 1))
    assert len(pd.read_csv(workdir / "plots/teacher/val_accuracy.csv")) == 2


def test_label_with_teacher_keys_logits_by_row_id(workdir):
    for split in ("train", "validation", "test", "unlabeled"):
        texts = pd.read_parquet(workdir / f"data/prepared/{split}.parquet")
        logits = pd.read_parquet(workdir / f"data/logits/{split}.parquet")
        assert logits["id"].tolist() == texts["id"].tolist()
        assert logits["teacher_logit"].notna().all()


def test_label_with_teacher_labels_synthetic_variants_of_the_training_reviews(workdir):
    train = pd.read_parquet(workdir / "data/prepared/train.parquet")
    variants = pd.read_parquet(workdir / "data/logits/augmented.parquet")
    assert list(variants.columns) == ["id", "source_id", "text", "student_text", "teacher_logit"]
    assert len(variants) == 2 * len(train) and variants["id"].is_unique
    assert set(variants["source_id"]) == set(train["id"])
    assert variants["text"].str.contains("[MASK]", regex=False).any()
    assert not variants["student_text"].str.contains("[MASK]", regex=False).any()
    assert variants["teacher_logit"].notna().all()
    students = read_json(workdir / "metrics/students.json")
    assert students["augmented_size"] == len(variants)
    assert students["transfer_size"] == len(train) + students["unlabeled_size"] + len(variants)


def test_no_augmentation_writes_an_empty_table_the_students_accept(workdir, tmp_path):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["augment"]["n_augment"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage(
        "label_with_teacher", "--teacher", str(workdir / "models/teacher"),
        "--split", str(workdir / "data/prepared/validation.parquet"), "validation.parquet",
        "--augment", str(workdir / "data/prepared/train.parquet"), "augmented.parquet",
        "--timing", "timing.json",
        cwd=tmp_path,
    )  # fmt: skip
    variants = pd.read_parquet(tmp_path / "augmented.parquet")
    assert variants.empty and "student_text" in variants.columns
    data = workdir / "data"
    run_stage(
        "distill_students",
        "--train", str(data / "prepared/train.parquet"), str(data / "logits/train.parquet"),
        "--unlabeled", str(data / "prepared/unlabeled.parquet"),
        str(data / "logits/unlabeled.parquet"),
        "--augmented", "augmented.parquet",
        "--validation", str(workdir / "data/prepared/validation.parquet"),
        "--out", "students", "--metrics", "students.json", "--timing", "timing.json",
        cwd=tmp_path,
    )  # fmt: skip
    metrics = read_json(tmp_path / "students.json")
    assert metrics["augmented_size"] == 0 and metrics["transfer_size"] == 24 + 40


def run_two_processes(name: str, *args: str, cwd: Path) -> None:
    """Run a stage data-parallel as a user would: torchrun, two CPU processes, gloo."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            str(ROOT / "stages" / f"{name}.py"), *args,
        ],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def test_labelling_with_two_processes_equals_one_process(workdir, tmp_path):
    """Data-parallel labelling shards, gathers in input order, and matches one process."""
    splits = ("test", "unlabeled")
    label_args = []
    for split in splits:
        label_args += ["--split", str(workdir / f"data/prepared/{split}.parquet")]
        label_args.append(str(tmp_path / f"{split}.parquet"))
    run_two_processes(
        "label_with_teacher",
        "--params", str(workdir / "params.yaml"), "--teacher", str(workdir / "models/teacher"),
        *label_args, "--augment", str(workdir / "data/prepared/train.parquet"),
        str(tmp_path / "augmented.parquet"), "--timing", str(tmp_path / "timing.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert read_json(tmp_path / "timing.json")["workers"] == 2
    for split in (*splits, "augmented"):
        single = pd.read_parquet(workdir / f"data/logits/{split}.parquet")
        parallel = pd.read_parquet(tmp_path / f"{split}.parquet")
        assert parallel.drop(columns="teacher_logit").equals(single.drop(columns="teacher_logit"))
        assert parallel["teacher_logit"].to_numpy() == pytest.approx(
            single["teacher_logit"].to_numpy(), abs=1e-5
        )


def test_fine_tuning_with_two_processes_matches_one_process(workdir, tmp_path, tiny_bert):
    """DDP over two processes splits each batch and averages gradients: without dropout the
    training curve and validation accuracy are those of one process."""
    model = dropout_free_copy(tiny_bert, tmp_path / "bert")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["finetune_teacher"] |= {"model": str(model), "dropout": 0.0}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    curves = {}
    for processes in (1, 2):
        out = tmp_path / f"run{processes}"
        args = (
            "--params", str(tmp_path / "params.yaml"),
            "--train", str(workdir / "data/prepared/train.parquet"),
            "--validation", str(workdir / "data/prepared/validation.parquet"),
            "--out", str(out / "teacher"), "--metrics", str(out / "teacher.json"),
            "--plots-dir", str(out / "plots"), "--timing", str(out / "timing.json"),
        )  # fmt: skip
        if processes == 1:
            run_stage("finetune_teacher", *args, cwd=tmp_path)
        else:
            run_two_processes("finetune_teacher", *args, cwd=tmp_path)
        assert read_json(out / "timing.json")["workers"] == processes
        assert (out / "teacher/model.safetensors").is_file()
        curves[processes] = pd.read_csv(out / "plots/train_loss.csv")["train_loss"].to_numpy()
        curves[processes, "val"] = read_json(out / "teacher.json")["val_accuracy"]
    assert len(curves[1]) == len(curves[2]) == 2 * 3
    assert curves[2] == pytest.approx(curves[1], abs=1e-4)
    assert curves[2, "val"] == curves[1, "val"]


def test_distill_students_saves_six_skops_models(workdir):
    names = {path.name for path in (workdir / "models/students").iterdir()}
    assert len([name for name in names if name.endswith(".skops")]) == 7
    assert "vocabulary.json" in names
    assert "linear" in names  # the numpy export `predict` uses for the linear students
    assert read_json(workdir / "metrics/students.json")["transfer_size"] == 24 + 40 + 2 * 24


def test_evaluate_writes_metrics_report_and_plots(workdir):
    metrics = read_json(workdir / "metrics/evaluate.json")
    for model in ("teacher", "lr_baseline", "lr_distilled", "svm_distilled", "tree_baseline"):
        for key in ("accuracy", "f1", "roc_auc", "agreement", "size_bytes"):
            assert math.isfinite(metrics[f"{model}_{key}"])
    assert metrics["teacher_agreement"] == 1.0
    assert "| Teacher (BERT) | 0.93 |" in (workdir / "metrics/report.md").read_text()
    assert len(list((workdir / "plots/evaluate/roc").glob("*.csv"))) == 7
    timing = read_json(workdir / "metrics/timings/evaluate.json")
    assert timing["lr_distilled_texts_per_second"] > 0
    assert "accuracy" not in json.dumps(timing)


def test_explain_writes_one_report_for_every_model(workdir):
    records = read_json(workdir / "reports/explain/explanations.json")
    assert len(records) == 2
    assert len(records[0]["models"]) == 7
    assert [path.name for path in (workdir / "reports/explain").glob("*.html")] == ["index.html"]
    page = (workdir / "reports/explain/index.html").read_text()
    assert page.count('<section class="explained"') == 2
    views = read_json(workdir / "reports/explain/global.json")
    assert sorted(views["trees"]) == ["tree_baseline", "tree_distilled"]
    assert len(views["linear"]["lr_distilled"]["positive"]) > 0
    metrics = read_json(workdir / "metrics/explain.json")
    assert 0 <= metrics["lr_distilled_top3_overlap"] <= 1
    assert math.isfinite(metrics["teacher_local_fit"])
    assert "distilled_mean_rank_correlation" in metrics
    coefficients = pd.read_csv(workdir / "plots/explain/coefficients/svm_baseline.csv")
    assert list(coefficients.columns) == ["ngram", "weight"]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("prepare", "train_size", -1, "params key 'prepare.train_size' must be positive"),
        ("prepare", "unlabeled_size", 10**6, "params key 'prepare.unlabeled_size' asks for"),
        ("prepare", "trainsize", 5, "unknown params key 'prepare.trainsize'"),
        ("prepare", "source", "/no/such/folder", "prepare.source /no/such/folder does not exist"),
    ],
)
def test_bad_input_fails_with_one_line_and_no_traceback(
    tmp_path, tiny_imdb, tiny_bert, section, key, value, message
):
    params = tiny_params(tiny_imdb, tiny_bert)
    params[section][key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage(
        "prepare", "--out-dir", "out", "--metrics", "m.json", "--timing", "t.json",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.json").exists()


def run_prepare_on(
    source: Path, tmp_path: Path, tiny_bert: Path, **prepare
) -> subprocess.CompletedProcess:
    params = tiny_params(source, tiny_bert)
    params["prepare"] |= prepare
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return run_stage(
        "prepare", "--out-dir", "out", "--metrics", "m.json", "--timing", "t.json",
        cwd=tmp_path, check=False,
    )  # fmt: skip


def assert_one_error_line(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [result.stderr.strip().splitlines()[-1]]
    assert all(part in errors[0] for part in parts), errors[0]
    assert "Traceback" not in result.stderr


def test_prepare_reads_other_column_names_from_its_params(tmp_path, tiny_bert):
    source = tmp_path / "imdb_csv"
    source.mkdir()
    labels = {}
    for split, size, seed in (("train", 60, 1), ("test", 40, 2)):
        reviews = synthetic_reviews(size, seed)
        sentiment = reviews["label"].map({0: "negative", 1: "positive"})
        table = pd.DataFrame({"review": reviews["text"], "sentiment": sentiment})
        table.to_csv(source / f"{split}.csv", index=False)
        labels |= dict(zip(reviews["text"].map(clean_text), reviews["label"], strict=True))
    columns = {"text_column": "review", "label_column": "sentiment"}
    result = run_prepare_on(source, tmp_path, tiny_bert, unlabeled_size=0, **columns)
    assert result.returncode == 0, result.stderr
    for split, size in (("train", 24), ("test", 20)):
        prepared = pd.read_parquet(tmp_path / f"out/{split}.parquet")
        assert len(prepared) == size and set(prepared["label"]) == {0, 1}
        assert prepared["label"].tolist() == prepared["text"].map(labels).tolist()


def truncate_test_file(source: Path) -> None:
    content = (source / "test.parquet").read_bytes()
    (source / "test.parquet").write_bytes(content[: len(content) // 2])  # an interrupted copy


def keep_positive_test_reviews(source: Path) -> None:
    test = pd.read_parquet(source / "test.parquet")
    test[test["label"] == 1].to_parquet(source / "test.parquet")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncate_test_file, "is not a readable parquet file"),
        (keep_positive_test_reviews, "holds only positive reviews"),
    ],
)
def test_a_damaged_source_file_stops_prepare_with_one_line(
    tmp_path, tiny_imdb, tiny_bert, damage, message
):
    source = tmp_path / "imdb"
    source.mkdir()
    for file in tiny_imdb.iterdir():
        (source / file.name).write_bytes(file.read_bytes())
    damage(source)
    result = run_prepare_on(source, tmp_path, tiny_bert)
    assert_one_error_line(result, f"error: {source / 'test.parquet'} ", message)
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.json").exists()


def test_missing_teacher_is_one_clear_line(tmp_path, workdir):
    result = run_stage(
        "label_with_teacher", "--params", str(workdir / "params.yaml"),
        "--teacher", "nowhere", "--split", str(workdir / "data/prepared/test.parquet"), "x.parquet",
        "--timing", "t.json",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nowhere is not a saved teacher" in result.stderr
    assert "Traceback" not in result.stderr


def run_predict(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bertdistill.predict", *args],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_predict_classifies_arguments_files_and_stdin_with_any_model(workdir, tmp_path):
    texts = pd.read_parquet(workdir / "data/prepared/test.parquet")["text"].tolist()[:3]
    expected = pd.read_parquet(workdir / "data/logits/test.parquet")["teacher_logit"][:3]
    result = run_predict("--model", "teacher", "--json", *texts, cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == texts
    probabilities = 1 / (1 + np.exp(-expected.to_numpy()))
    assert [row["probability_positive"] for row in rows] == pytest.approx(probabilities, abs=1e-3)
    assert [row["label"] == "positive" for row in rows] == list(probabilities >= 0.5)

    (tmp_path / "reviews.txt").write_text("\n".join(texts) + "\n\n")
    from_file = run_predict("--file", str(tmp_path / "reviews.txt"), "--json", cwd=workdir)
    from_stdin = run_predict("--json", cwd=workdir, stdin="\n".join(texts))
    assert from_file.returncode == 0 and from_file.stdout == from_stdin.stdout
    assert len(from_file.stdout.splitlines()) == 3


def test_predict_warns_when_a_text_holds_no_word_the_model_knows(workdir):
    known = pd.read_parquet(workdir / "data/prepared/test.parquet")["text"][0]
    texts = [known, "", "   ", "zzzz qqqq"]
    for model, unknown in (
        ("teacher", [False, True, True, False]),  # [UNK] is a token: only no text is nothing
        ("lr_distilled", [False, True, True, True]),
        ("tree_baseline", [False, True, True, True]),
    ):
        result = run_predict("--model", model, "--json", *texts, cwd=workdir)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [row["text"] for row in rows] == texts
        assert ["warning" in row for row in rows] == unknown, model
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
        assert warnings == [f"warning: {row['warning']}" for row in rows if "warning" in row]
        assert warnings[0].startswith("warning: '' holds no word the model knows")
    plain = run_predict("--model", "lr_distilled", "zzzz qqqq", cwd=workdir)
    assert "'zzzz qqqq' holds no word the model knows" in plain.stderr
    assert plain.stdout.split()[0] in ("positive", "negative")


def test_predict_explains_with_top_words_and_prints_a_table(workdir):
    text = pd.read_parquet(workdir / "data/prepared/test.parquet")["text"][0]
    result = run_predict("--model", "svm_distilled", "--explain", "--json", text, cwd=workdir)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    words = [word for word, _ in row["top_words"]]
    assert 0 < len(words) <= 5 and all(word in text for word in words)
    plain = run_predict("--model", "tree_baseline", text, cwd=workdir)
    assert plain.stdout.split()[0] in ("positive", "negative")


def test_predict_errors_are_one_line(workdir, tmp_path):
    missing = run_predict("--models-dir", str(tmp_path), "a text", cwd=workdir)
    assert missing.returncode == 2 and "holds no trained students" in missing.stderr
    empty = run_predict(cwd=workdir, stdin="\n  \n")
    assert empty.returncode == 2 and "no text to classify" in empty.stderr
    for result in (missing, empty):
        assert "Traceback" not in result.stderr


def test_an_interrupted_stage_exits_130_and_writes_nothing(workdir, tmp_path):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["finetune_teacher"]["epochs"] = 1000
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    stage = subprocess.Popen(
        [
            sys.executable, str(ROOT / "stages/finetune_teacher.py"),
            "--train", str(workdir / "data/prepared/train.parquet"),
            "--validation", str(workdir / "data/prepared/validation.parquet"),
            "--out", "teacher", "--metrics", "teacher.json", "--plots-dir", "plots",
            "--timing", "timing.json",
        ],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip
    while "config:" not in (line := stage.stderr.readline()):
        assert line, "the stage ended before it started training"
    time.sleep(1.0)
    stage.send_signal(signal.SIGINT)
    rest = stage.stderr.read()
    assert stage.wait(timeout=60) == 130
    assert "interrupted: outputs of this stage were not written" in rest
    assert "Traceback" not in rest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml"]
