"""Each stage script run as DVC runs it (a subprocess), on temp paths and tiny params."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from support import (
    ROOT,
    default_sigint,
    dropout_free_copy,
    run,
    run_predict,
    synthetic_reviews,
    tiny_params,
)

from bertdistill.core import dvc_stages
from bertdistill.core.errors import UserError
from bertdistill.core.registry import MODEL_NAMES, STUDENT_NAMES
from bertdistill.data.splits import clean_text
from bertdistill.evaluation.statistics import with_intervals
from bertdistill.explain.attributions import student_attribution
from bertdistill.students.cards import card_path
from bertdistill.students.files import (
    FEATURIZER_FILE,
    META_FILE,
    SEEDS_FILE,
    VOCABULARY_FILE,
    load_students,
    student_file,
)
from bertdistill.students.numpy_linear import LINEAR_DIR

ENV = os.environ | {"PYTHONPATH": str(ROOT)}
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Data-parallel as a user would run a stage: torchrun, two CPU processes, gloo.
STUDENT_DIRS = ("models/students", "models/trees")  # distill_students', distill_trees'
SEED_DIRS = ("models/student_seeds", "models/tree_seeds")
TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")


def stage_command(name: str, *launcher: str) -> list[str]:
    return dvc_stages.stage_command(ROOT, name, *launcher)


def run_stage(
    name: str, cwd: Path, *launcher: str, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        stage_command(name, *launcher),
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed:\n{result.stderr[-3000:]}")
    return result


def stage_folder(folder: Path, workdir: Path, *inputs: str, params: dict | None = None) -> Path:
    """A folder to run a stage's dvc.yaml command in: a params file (workdir's unless given) and
    links to ``inputs``, outputs of earlier stages in workdir, at the paths the command names."""
    folder.mkdir(parents=True, exist_ok=True)
    if params is None:
        params = yaml.safe_load((workdir / "params.yaml").read_text())
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for path in inputs:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).symlink_to(workdir / path)
    return folder


def tree(folder: Path) -> set[str]:
    """Every path under ``folder``, links not followed."""
    paths = set()
    for parent, folders, files in os.walk(folder):
        paths |= {str(Path(parent, name).relative_to(folder)) for name in folders + files}
    return paths


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def sigmoid(logits) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logits, dtype=np.float64)))


pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tiny_run) -> Path:
    """The stages' outputs on tiny data: conftest's one `dvc repro` of the pipeline. Tests read
    it; a test that runs a stage does so in a folder of its own (:func:`stage_folder`)."""
    return tiny_run


def test_prepare_writes_the_four_splits(workdir):
    metrics = read_json(workdir / "metrics/prepare.json")
    sizes = {"train": 24, "validation": 16, "test": 20, "unlabeled": 40}  # tiny_params
    for split, size in sizes.items():
        frame = pd.read_parquet(workdir / f"data/prepared/{split}.parquet")
        assert list(frame.columns) == ["id", "text", "label"]
        assert len(frame) == metrics[f"{split}_size"] == size
        if split == "unlabeled":
            assert set(frame["label"]) == {-1}
        else:
            # the tiny pools alternate labels, so an even-sized stratified sample is half positive
            assert frame["label"].sum() == size // 2
            assert metrics[f"{split}_positive_share"] == 0.5


def training_curve(folder: Path, name: str) -> pd.DataFrame:
    """One curve of the DVCLive log the fine-tuning writes (``metrics/training``)."""
    return pd.read_csv(folder / f"metrics/training/plots/metrics/{name}.tsv", sep="\t")


def test_finetune_teacher_saves_safetensors_and_logs_its_curves_through_dvclive(workdir):
    teacher = workdir / "models/teacher"
    assert {"model.safetensors", "config.json", "teacher.json", "tokenizer.json", "README.md"} <= {
        path.name for path in teacher.iterdir()
    }
    metrics = read_json(workdir / "metrics/teacher.json")
    assert metrics["validation_size"] == 16  # tiny_params
    assert read_json(teacher / "config.json")["id2label"] == {"0": "negative", "1": "positive"}
    # the model card: Hub metadata, the kept epoch's accuracy, no path of this machine
    card = (teacher / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert metadata["pipeline_tag"] == "text-classification" and "base_model" not in metadata
    assert f"Validation accuracy: **{metrics['val_accuracy']:.3f} [" in card
    assert str(workdir) not in card and "/tmp" not in card
    curve = training_curve(workdir, "train_loss")
    # 24 training texts in batches of 8, two epochs: DVCLive's step is the optimiser step
    assert list(curve["step"]) == list(range(6))
    epochs = training_curve(workdir, "val_accuracy")
    assert list(epochs["step"]) == [3, 6]  # scored after each epoch's three steps
    losses = training_curve(workdir, "val_loss")
    assert list(losses["step"]) == [3, 6] and (losses["val_loss"] > 0).all()
    live = read_json(workdir / "metrics/training/metrics.json")
    assert live == {
        "step": 6,
        "train_loss": curve["train_loss"].iloc[-1],
        "val_loss": losses["val_loss"].iloc[-1],
        "val_accuracy": epochs["val_accuracy"].iloc[-1],
    }
    # the kept epoch is the first with the best validation accuracy
    assert metrics["best_epoch"] == epochs["val_accuracy"].idxmax() + 1
    assert metrics["val_accuracy"] == pytest.approx(epochs["val_accuracy"].max(), abs=1e-6)
    # ... and the saved weights are that epoch's: their logits on the validation split (written
    # by label_with_teacher) score that accuracy
    validation = pd.read_parquet(workdir / "data/prepared/validation.parquet")
    logits = pd.read_parquet(workdir / "data/logits/validation.parquet")["teacher_logit"]
    accuracy = np.mean((logits.to_numpy() > 0) == validation["label"].to_numpy())
    assert metrics["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)


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
    folder = stage_folder(tmp_path, workdir, "data/prepared", "models/teacher", params=params)
    run_stage("label_with_teacher", folder)
    variants = pd.read_parquet(folder / "data/logits/augmented.parquet")
    assert variants.empty and "student_text" in variants.columns
    run_stage("distill_students", folder)
    metrics = read_json(folder / "metrics/students.json")
    assert metrics["augmented_size"] == 0 and metrics["transfer_size"] == 24 + 40


def test_labelling_with_two_processes_equals_one_process(workdir, tmp_path):
    """Data-parallel labelling shards, gathers in input order, and matches one process."""
    folder = stage_folder(tmp_path, workdir, "data/prepared", "models/teacher")
    run_stage("label_with_teacher", folder, *TORCHRUN)
    assert read_json(folder / "metrics/timings/label_with_teacher.json")["workers"] == 2
    for split in ("train", "validation", "test", "unlabeled", "augmented"):
        single = pd.read_parquet(workdir / f"data/logits/{split}.parquet")
        parallel = pd.read_parquet(folder / f"data/logits/{split}.parquet")
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
    curves = {}
    for processes, launcher in ((1, ()), (2, TORCHRUN)):
        out = stage_folder(tmp_path / f"run{processes}", workdir, "data/prepared", params=params)
        run_stage("finetune_teacher", out, *launcher)
        assert read_json(out / "metrics/timings/finetune_teacher.json")["workers"] == processes
        assert (out / "models/teacher/model.safetensors").is_file()
        curves[processes] = training_curve(out, "train_loss")["train_loss"].to_numpy()
        curves[processes, "val"] = read_json(out / "metrics/teacher.json")["val_accuracy"]
    assert len(curves[1]) == len(curves[2]) == 2 * 3
    assert curves[2] == pytest.approx(curves[1], abs=1e-4)
    assert curves[2, "val"] == curves[1, "val"]


def test_the_teachers_own_seed_replaces_the_projects_seed_for_fine_tuning_only(workdir, tmp_path):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    losses = {}
    for teacher_seed in (params["seed"], params["seed"] + 1):
        params["finetune_teacher"]["seed"] = teacher_seed
        out = stage_folder(tmp_path / str(teacher_seed), workdir, "data/prepared", params=params)
        run_stage("finetune_teacher", out)
        losses[teacher_seed] = training_curve(out, "train_loss")["train_loss"]
    committed = training_curve(workdir, "train_loss")["train_loss"]
    assert losses[params["seed"]].tolist() == committed.tolist()
    assert losses[params["seed"] + 1].tolist() != committed.tolist()


def test_the_student_stages_save_six_students_beside_one_featurizer(workdir):
    files = {f"{name}.skops" for name in STUDENT_NAMES}
    assert len(files) == 6
    linear = {name for name in files if not name.startswith("tree")}
    # beside them: how to read their outputs, the featuriser (the same bytes in both folders),
    # and the numpy export `predict` uses for the linear students
    shared = {FEATURIZER_FILE, VOCABULARY_FILE, META_FILE}
    students, trees = (workdir / folder for folder in STUDENT_DIRS)
    # and each student's model card beside its skops file
    cards = {card_path("", name).name for name in STUDENT_NAMES}
    linear_cards = {name for name in cards if not name.startswith("tree")}
    assert {path.name for path in students.iterdir()} == (
        linear | linear_cards | shared | {LINEAR_DIR}
    )
    assert {path.name for path in trees.iterdir()} == files - linear | cards - linear_cards | shared
    for name in shared:
        assert (students / name).read_bytes() == (trees / name).read_bytes(), name
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    seeds = params["distill_students"]["seeds"]
    expected = [params["seed"] + offset for offset in range(1, seeds)]
    assert len(expected) >= 2
    # lbfgs LR and Ridge draw no random numbers: fitted once
    for folder, refitted in zip(
        SEED_DIRS,
        (["svm_baseline", "svm_distilled"], ["tree_baseline", "tree_distilled"]),
        strict=True,
    ):
        replicates = workdir / folder
        assert read_json(replicates / SEEDS_FILE) == {"seeds": expected, "students": refitted}
        assert {path.name for path in replicates.iterdir()} == {*map(str, expected), SEEDS_FILE}
        for seed in expected:
            assert {path.name for path in (replicates / str(seed)).iterdir()} == {
                f"{name}.skops" for name in refitted
            }
    for name in ("students", "trees"):
        metrics = read_json(workdir / f"metrics/{name}.json")
        assert metrics["transfer_size"] == 24 + 40 + 2 * 24
        assert (metrics["seeds"], metrics["unlabeled_size"]) == (seeds, 40)


def test_distill_students_uses_a_nested_subset_of_the_unlabelled_reviews(workdir, tmp_path):
    inputs = ("data/prepared", "data/logits")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    for limit in (15, 0):
        params["distill_students"] |= {"unlabeled_limit": limit, "seeds": 1}
        folder = stage_folder(tmp_path / f"subset{limit}", workdir, *inputs, params=params)
        run_stage("distill_students", folder)
        metrics = read_json(folder / "metrics/students.json")
        assert (metrics["unlabeled_size"], metrics["transfer_size"]) == (limit, 24 + limit + 48)
        listing = read_json(folder / "models/student_seeds" / SEEDS_FILE)
        assert listing == {"seeds": [], "students": []}
    params["distill_students"]["unlabeled_limit"] = 41
    folder = stage_folder(tmp_path / "too_many", workdir, *inputs, params=params)
    result = run_stage("distill_students", folder, check=False)
    assert_one_error_line(
        result,
        "distill_students.unlabeled_limit' is 41",
        "data/prepared/unlabeled.parquet has 40 reviews",
    )
    assert not (folder / "models").exists()


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The chance that a positive review scores above a negative one (ties count half)."""
    positive, negative = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(np.mean(positive > negative) + 0.5 * np.mean(positive == negative))


def test_evaluate_writes_metrics_report_and_plots(workdir):
    metrics = read_json(workdir / "metrics/evaluate.json")
    test = pd.read_parquet(workdir / "data/prepared/test.parquet")
    labels = test["label"].to_numpy()
    teacher_logits = pd.read_parquet(workdir / "data/logits/test.parquet")["teacher_logit"]
    students = load_students([workdir / folder for folder in STUDENT_DIRS])
    logits = {"teacher": teacher_logits.to_numpy()}
    logits |= {name: students.logits(name, test["text"].tolist()) for name in STUDENT_NAMES}
    assert metrics["test_size"] == len(test) == 20
    for model, model_logits in logits.items():
        predicted = (model_logits > 0).astype(int)
        true_positives = int(np.sum((predicted == 1) & (labels == 1)))
        errors = int(np.sum(predicted != labels))
        assert metrics[f"{model}_accuracy"] == pytest.approx(np.mean(predicted == labels)), model
        assert metrics[f"{model}_f1"] == pytest.approx(
            2 * true_positives / (2 * true_positives + errors)
        ), model
        assert metrics[f"{model}_roc_auc"] == pytest.approx(roc_auc(labels, model_logits)), model
        assert metrics[f"{model}_agreement"] == pytest.approx(
            np.mean(predicted == (logits["teacher"] > 0))
        ), model
    for name in STUDENT_NAMES:
        size = student_file([workdir / folder for folder in STUDENT_DIRS], name).stat().st_size
        assert metrics[f"{name}_size_bytes"] == size
    assert metrics["teacher_agreement"] == 1.0
    # the spread over seeds: the kept student and its re-fits, each scored on the test set
    refits = load_students(
        [workdir / folder for folder in STUDENT_DIRS],
        replicates=[workdir / folder for folder in SEED_DIRS],
    )
    features = refits.featurizer.transform(test["text"].tolist())
    for name in STUDENT_NAMES:
        runs = [logits[name], *refits.replicate_logits(name, features).values()]
        if name in ("lr_baseline", "lr_distilled"):  # deterministic: one fit stands for all
            assert len(runs) == 1
            runs *= metrics["seeds"]
        accuracies = [np.mean((run > 0) == labels) for run in runs]
        assert len(accuracies) == metrics["seeds"] >= 3
        assert metrics[f"{name}_seeds_accuracy_mean"] == pytest.approx(np.mean(accuracies)), name
        assert metrics[f"{name}_seeds_accuracy_std"] == pytest.approx(
            np.std(accuracies, ddof=1), abs=1e-6
        ), name
        assert metrics[f"{name}_seeds_accuracy_max"] == pytest.approx(max(accuracies)), name
    # the intervals and tests are those of the seeded bootstrap over these texts, recomputed
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    resamples = params["evaluate"]["bootstrap_resamples"]
    accuracy, comparisons = with_intervals(labels, logits, resamples, params["seed"])
    for model, interval in accuracy.items():
        assert metrics[f"{model}_accuracy_ci_low"] == interval.low, model
        assert metrics[f"{model}_accuracy_ci_high"] == interval.high, model
    assert len(comparisons) == 9
    for comparison in comparisons:
        for key, value in comparison.metrics().items():
            assert metrics[key] == pytest.approx(value, abs=1e-12), key
    assert metrics["bootstrap_resamples"] == params["evaluate"]["bootstrap_resamples"]
    teacher = Path(
        yaml.safe_load((workdir / "params.yaml").read_text())["finetune_teacher"]["model"]
    )
    report = (workdir / "metrics/report.md").read_text()
    assert f"| Teacher ({teacher.name}, 32 tokens head+tail) | 0.93 |" in report
    for section in ("Distilled vs gold labels", "Students vs the teacher", "Students over seeds"):
        assert f"## {section}" in report
    roc_files = {path.name for path in (workdir / "plots/evaluate/roc").glob("*.csv")}
    assert roc_files == {f"{name}.csv" for name in MODEL_NAMES}
    timing = read_json(workdir / "metrics/timings/evaluate.json")
    assert timing["throughput_texts"] == 10
    assert timing["lr_distilled_texts_per_second"] > 0
    assert "accuracy" not in json.dumps(timing)


def test_size_frontier_scores_every_student_within_each_budget_and_prints_the_small_ones(
    workdir,
):
    params = yaml.safe_load((workdir / "params.yaml").read_text())["size_frontier"]
    metrics = read_json(workdir / "metrics/size_frontier.json")
    evaluated = read_json(workdir / "metrics/evaluate.json")
    budgets = {"lr": params["weight_budgets"], "svm": params["weight_budgets"]}
    budgets["tree"] = params["leaf_budgets"]
    for name in STUDENT_NAMES:
        kind, variant = name.split("_")
        for budget in budgets[kind]:
            assert 0 < metrics[f"{name}_{budget}_size"] <= budget, (name, budget)
            low, high = (metrics[f"{name}_{budget}_accuracy_ci_{end}"] for end in ("low", "high"))
            assert low <= metrics[f"{name}_{budget}_accuracy"] <= high
        # without a budget: the student distill_students fitted, scored as evaluate scores it
        assert metrics[f"{name}_all_accuracy"] == evaluated[f"{name}_accuracy"], name
        if variant == "distilled":
            for budget in [*budgets[kind], "all"]:
                gain = metrics[f"{kind}_{budget}_gain"]
                twins = (
                    metrics[f"{kind}_{side}_{budget}_accuracy"]
                    for side in ("distilled", "baseline")
                )
                assert gain == pytest.approx(np.subtract(*twins), abs=2e-6)
                assert metrics[f"{name}_{budget}_vs_teacher"] == pytest.approx(
                    metrics[f"{name}_{budget}_accuracy"] - metrics["teacher_accuracy"], abs=2e-6
                )
    assert metrics["teacher_accuracy"] == evaluated["teacher_accuracy"]
    linear = pd.read_csv(workdir / "plots/size_frontier/linear.csv")
    assert set(linear["student"]) == {
        "LR, gold labels",
        "LR, distilled",
        "SVM, gold labels",
        "SVM, distilled",
    }
    assert len(linear) == 4 * (len(params["weight_budgets"]) + 1)
    assert (linear["ci_low"] <= linear["accuracy"]).all() and (
        linear["accuracy"] <= linear["ci_high"]
    ).all()
    trees = pd.read_csv(workdir / "plots/size_frontier/tree.csv")
    assert list(trees["budget"].astype(str)) == [*map(str, params["leaf_budgets"]), "all"] * 2
    report = (workdir / "metrics/size_frontier.md").read_text()
    students = load_students([workdir / folder for folder in STUDENT_DIRS])
    terms = students.featurizer.get_feature_names_out()
    for budget in params["shown_weights"]:
        for kind in ("LR", "SVM"):
            size = metrics[f"{kind.lower()}_distilled_{budget}_size"]
            heading = f"## {kind}, distilled, {size} n-gram weights, whole"
            assert heading in report
            shown = report.split(heading)[1].split("\n## ")[0]
            cells = [cell for line in shown.splitlines() for cell in line.split(" | ")[::2]]
            shown_terms = [cell.strip("| ") for cell in cells if cell.strip("| ") in terms]
            assert len(set(shown_terms)) == len(shown_terms) == size
    leaves = metrics[f"tree_distilled_{params['shown_leaves']}_size"]
    rules = report.split(f"## Tree, distilled, {leaves} leaves, as rules")[1]
    assert len([line for line in rules.splitlines() if re.match(r"\| \d+ \|", line)]) == leaves


def test_dvc_draws_the_size_frontier_with_its_intervals(workdir):
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    ids = [next(iter(plot)) for plot in plots if "size_frontier" in json.dumps(plot)]
    assert len(ids) == 2
    for plot_id in ids:
        shown = json.loads(run("dvc", "plots", "show", "--json", plot_id, cwd=workdir))
        content = shown["data"][plot_id][0]["content"]
        marks = [layer["mark"]["type"] for layer in content["layer"]]
        assert marks == ["line", "errorbar"]
        rows = content["data"]["values"]
        assert rows and all(
            float(row["ci_low"]) <= float(row["accuracy"]) <= float(row["ci_high"]) for row in rows
        )
        assert content["encoding"]["x"]["field"] == "size"


def test_evaluate_scores_stored_logits_without_torch(workdir, tmp_path):
    """evaluate reads the teacher's logits and never imports torch (nor the teacher's code)."""
    inputs = [
        *("data/prepared/test.parquet", "data/logits/test.parquet"),
        *("models/teacher", *STUDENT_DIRS, *SEED_DIRS),
    ]
    folder = stage_folder(tmp_path / "evaluate", workdir, *inputs)
    probe = (
        "import runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "finally:\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'})\n"
        "    print('heavy:', loaded)\n"
    )
    command = stage_command("evaluate")
    result = subprocess.run(
        [command[0], "-c", probe, *command[1:]],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy: []" in result.stdout
    assert read_json(folder / "metrics/evaluate.json") == read_json(
        workdir / "metrics/evaluate.json"
    )


def test_explain_writes_one_report_for_every_model(workdir):
    records = read_json(workdir / "reports/explain/explanations.json")
    assert len(records) == 2  # the occlusion subset of tiny_params (LIME's is 1 review)
    teacher_logits = pd.read_parquet(workdir / "data/logits/test.parquet")
    teacher_logits = teacher_logits.set_index("id")["teacher_logit"]
    students = load_students([workdir / folder for folder in STUDENT_DIRS])
    vocabulary = students.featurizer.get_feature_names_out()
    for position, record in enumerate(records):
        lime = ["lime"] if position == 0 else []
        assert sorted(record["models"]) == sorted(MODEL_NAMES)
        # each model's probability of the review itself is the sigmoid of its logit on it
        models = record["models"]
        expected = sigmoid(teacher_logits[record["id"]])
        assert models["teacher"]["probability"] == pytest.approx(expected, abs=1e-4)
        methods = sorted(models["teacher"]["methods"])
        assert methods == ["guided_occlusion", "integrated_gradients", *lime, "occlusion"]
        for name in STUDENT_NAMES:
            expected = sigmoid(students.logits(name, [record["text"]])[0])
            assert models[name]["probability"] == pytest.approx(expected, abs=2e-6), name
            assert sorted(models[name]["methods"]) == ["exact", *lime]
            exact = student_attribution(
                students.models[name], students.featurizer, vocabulary, record["text"]
            )
            shown = dict(models[name]["methods"]["exact"])
            assert shown == pytest.approx(exact.words, abs=1e-6), name
    assert [path.name for path in (workdir / "reports/explain").glob("*.html")] == ["index.html"]
    views = read_json(workdir / "reports/explain/global.json")
    assert sorted(views["trees"]) == ["tree_baseline", "tree_distilled"]
    assert len(views["linear"]["lr_distilled"]["positive"]) > 0
    metrics = read_json(workdir / "metrics/explain.json")
    covered = {"integrated_gradients": 6, "occlusion": 2, "random": 6}
    for name in MODEL_NAMES:
        methods = covered if name == "teacher" else {"exact": 6, "random": 6}
        for method, reviews in methods.items():
            prefix = f"{name}_{method}"
            assert metrics[f"{prefix}_reviews"] == reviews, prefix
            for measure in ("comprehensiveness", "sufficiency"):
                key = f"{prefix}_{measure}"
                low, high = metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]
                assert -1 <= low <= metrics[key] <= high <= 1, key
                if method != "random":
                    difference = f"{key}_vs_random"
                    assert metrics[f"{difference}_ci_low"] <= metrics[difference], difference
        # LIME on one review, below min_interval_reviews: its means, no interval
        assert metrics[f"{name}_lime_reviews"] == 1
        assert -1 <= metrics[f"{name}_lime_comprehensiveness"] <= 1
        assert f"{name}_lime_comprehensiveness_ci_low" not in metrics
    for name in STUDENT_NAMES:  # top_k = 3 in tiny_params
        for measure in ("top3_overlap", "rank_correlation", "deletion_fidelity"):
            key = f"{name}_{measure}"
            assert metrics[f"{key}_ci_low"] <= metrics[key] <= metrics[f"{key}_ci_high"], key
    for kind in ("lr", "svm", "tree"):
        key = f"{kind}_distilled_vs_{kind}_baseline_deletion_fidelity_diff"
        assert metrics[f"{key}_ci_low"] <= metrics[key] <= metrics[f"{key}_ci_high"]
    assert metrics["num_reviews"] == 6
    assert 0 <= metrics["teacher_integrated_gradients_mean_abs_gap"] < 0.05
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
    result = run_stage("prepare", tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == {"params.yaml"}


def run_prepare_on(
    source: Path, tmp_path: Path, tiny_bert: Path, **prepare
) -> subprocess.CompletedProcess:
    params = tiny_params(source, tiny_bert)
    params["prepare"] |= prepare
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return run_stage("prepare", tmp_path, check=False)


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
        prepared = pd.read_parquet(tmp_path / f"data/prepared/{split}.parquet")
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
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics").exists()


def test_missing_teacher_is_one_clear_line(tmp_path, workdir):
    folder = stage_folder(tmp_path, workdir, "data/prepared")  # and no models/teacher
    result = run_stage("label_with_teacher", folder, check=False)
    assert result.returncode == 2
    assert "models/teacher is not a saved teacher" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_without_the_teachers_explanations_is_one_clear_line(tmp_path, workdir):
    folder = stage_folder(tmp_path, workdir, *STUDENT_DIRS)  # no data/teacher_explanations
    result = run_stage("explain", folder, check=False)
    assert_one_error_line(result, "data/teacher_explanations", "dvc repro explain_teacher")
    assert not (folder / "reports").exists() and not (folder / "metrics").exists()


def test_an_explain_typo_stops_both_explain_stages(tmp_path, workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["explain"]["topk"] = 2
    inputs = ("data/prepared", "models/teacher", *STUDENT_DIRS, "data/teacher_explanations")
    folder = stage_folder(tmp_path, workdir, *inputs, params=params)
    for stage in ("explain_teacher", "explain"):
        result = run_stage(stage, folder, check=False)
        assert_one_error_line(result, "unknown params key 'explain.topk'")


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
    tree_logit = load_students(workdir / "models/trees", names=["tree_baseline"]).logits(
        "tree_baseline", [text]
    )[0]
    label, probability = plain.stdout.split()[:2]
    assert float(probability) == pytest.approx(sigmoid(tree_logit), abs=1e-4)
    assert label == ("positive" if sigmoid(tree_logit) >= 0.5 else "negative")


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
    folder = stage_folder(tmp_path, workdir, "data/prepared", params=params)
    before = tree(folder)
    stage = subprocess.Popen(
        stage_command("finetune_teacher"),
        cwd=folder,
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    while "config:" not in (line := stage.stderr.readline()):
        assert line, "the stage ended before it started training"
    time.sleep(1.0)
    stage.send_signal(signal.SIGINT)
    rest = stage.stderr.read()
    assert stage.wait(timeout=60) == 130
    assert "interrupted: outputs of this stage were not written" in rest
    assert "Traceback" not in rest
    assert tree(folder) == before == {"params.yaml", "data", "data/prepared"}


def test_a_stages_peak_memory_is_its_own_not_its_launchers():
    """DVC forks and execs each stage: the peak a stage reports must not be DVC's."""
    touch = "ballast = bytearray({} * 2**20); ballast[::4096] = b'x' * len(ballast[::4096])\n"
    launcher = touch.format(600) + "import os, sys; os.execv(sys.executable, sys.argv[1:])"
    report = "from bertdistill.core.stage import peak_rss_mib; print(peak_rss_mib())"

    def peak(program: str) -> float:
        command = [sys.executable, "-c", launcher, sys.executable, "-c", program]
        result = subprocess.run(command, env=ENV, capture_output=True, text=True, check=True)
        return float(result.stdout)

    assert peak(report) < 300
    assert peak(touch.format(400) + report) >= 400


def test_stage_command_refuses_a_cmd_only_dvc_can_fill_in(tmp_path):
    stages = {
        "prepare": {"cmd": "python stages/prepare.py --size ${prepare.size}"},
        "other": {"cmd": "bash run.sh"},
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    for name, message in [
        ("prepare", "only DVC can fill in"),
        ("other", r"should start `python stages/<script>\.py`"),
        ("absent", "has no stage 'absent'"),
    ]:
        with pytest.raises(UserError, match=message):
            dvc_stages.stage_command(tmp_path, name)
    assert stage_command("prepare")[:2] == [sys.executable, str(ROOT / "stages" / "prepare.py")]
