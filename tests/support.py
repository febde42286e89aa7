"""What the tests share: tiny synthetic data, a tiny random BERT, tiny params, the helpers that
build the pipeline in a temp repo, and the params every test module starts from. Fixtures that
wrap them live in conftest.py; test modules import these helpers from here, never from each
other."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bertdistill.core.errors import run_cli
from bertdistill.core.params import (
    AugmentParams,
    EvaluateParams,
    ExplainParams,
    FrontierParams,
    InferenceParams,
    PrepareParams,
    StudentParams,
    TeacherParams,
    TfidfParams,
)
from bertdistill.core.params_file import load_params, load_section
from bertdistill.students.fitting import fit_students
from bertdistill.students.transfer_set import TransferSet
from bertdistill.teacher.model import EncodingSpec

ROOT = Path(__file__).resolve().parents[1]  # the repository
STAGES = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])  # in pipeline order
POSITIVE = ["great", "excellent", "wonderful", "loved", "best", "superb"]
NEGATIVE = ["awful", "terrible", "boring", "worst", "hated", "dull"]
NEUTRAL = ["the", "movie", "film", "plot", "acting", "was", "a", "and", "story", "it"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def default_sigint() -> None:
    """``preexec_fn`` for a child that must take SIGINT like a user's Ctrl-C: children of a
    shell's background job (some CI runners) start with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# The explain settings of the tiny runs: every explainer on a few reviews, in seconds.
TINY_EXPLAIN = {
    "num_reviews": 6,
    "ig_steps": 4,
    "guided_share": 0.5,
    "occlusion_reviews": 2,
    "lime_reviews": 1,  # below min_interval_reviews: means only
    "num_samples": 40,
    "num_features": 5,
    "top_k": 3,
    "deletions": 2,
    "min_interval_reviews": 2,
}


# The size budgets of the tiny runs: their vocabulary holds a few dozen n-grams.
TINY_FRONTIER = {
    "weight_budgets": [3, 10],
    "leaf_budgets": [2, 4],
    "path_points": 30,
    "shown_weights": [3],
    "shown_leaves": 2,
}


def synthetic_reviews(count: int, seed: int, labeled: bool = True) -> pd.DataFrame:
    """Reviews whose label is carried by a few sentiment words among neutral filler."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label = index % 2
        sentiment = POSITIVE if label else NEGATIVE
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(6, 30))))
        for _ in range(int(rng.integers(1, 4))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(sentiment)))
        text = " ".join(words).capitalize() + ".<br /><br />" + " ".join(rng.choice(NEUTRAL, 3))
        rows.append((text, label if labeled else -1))
    return pd.DataFrame(rows, columns=["text", "label"])


NLI_CLASSES = ("entailment", "neutral", "contradiction")


def synthetic_pairs(count: int, seed: int) -> pd.DataFrame:
    """Premise/hypothesis pairs whose class the hypothesis carries: a part of the premise
    (entailment), new words (neutral), or a part of it with "not" (contradiction)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label = NLI_CLASSES[index % 3]
        premise = list(rng.choice(NEUTRAL, size=int(rng.integers(6, 12))))
        part = premise[: int(rng.integers(2, 5))]
        hypothesis = {
            "entailment": part,
            "neutral": [*part, *rng.choice(POSITIVE, 2)],
            "contradiction": ["not", *part],
        }[label]
        rows.append((" ".join(premise).capitalize() + ".", " ".join(hypothesis) + ".", label))
    return pd.DataFrame(rows, columns=["premise", "hypothesis", "label"])


def pair_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`synthetic_pairs` as prepare writes them: ids, text, text_pair and class ids."""
    return pd.DataFrame(
        {
            "id": [f"p{index}" for index in range(len(pairs))],
            "text": pairs["premise"],
            "text_pair": pairs["hypothesis"],
            "label": pairs["label"].map(NLI_CLASSES.index),
        }
    )


def write_tiny_pairs(folder: Path, dev_size: int) -> Path:
    """An SNLI-shaped source: a dev file to cut train, validation and unlabelled pairs from, and
    30 test pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    synthetic_pairs(dev_size, seed=1).to_parquet(folder / "dev.parquet")
    synthetic_pairs(30, seed=2).to_parquet(folder / "test.parquet")
    return folder


def pair_task(unlabeled_size: int) -> dict:
    """The `prepare` settings of a three-class pair task read from :func:`write_tiny_pairs`."""
    return {
        "text_column": "premise",
        "pair_column": "hypothesis",
        "classes": list(NLI_CLASSES),
        "train_split": "dev",
        "unlabeled_split": "dev",
        "test_size": None,
        "unlabeled_size": unlabeled_size,
    }


def write_tiny_imdb(folder: Path, sizes=(60, 40, 60)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, size, seed in zip(("train", "test", "unsup"), sizes, (1, 2, 3), strict=True):
        synthetic_reviews(size, seed, labeled=split != "unsup").to_parquet(
            folder / f"{split}.parquet"
        )
    return folder


def write_tiny_acl_archive(path: Path, sizes=(60, 40, 60)) -> dict[str, pd.DataFrame]:
    """A tarball shaped like the official aclImdb_v1.tar.gz (``aclImdb/{train,test}/{neg,pos}/``
    and ``aclImdb/train/unsup/``, one ``<id>_<rating>.txt`` per review) holding synthetic
    reviews; returns them by split."""
    reviews = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, size, seed in zip(("train", "test", "unsup"), sizes, (1, 2, 3), strict=True):
            reviews[split] = synthetic_reviews(size, seed, labeled=split != "unsup")
            for index, (text, label) in enumerate(reviews[split].itertuples(index=False)):
                folder = "train/unsup" if split == "unsup" else f"{split}/{('neg', 'pos')[label]}"
                rating = {-1: 0, 0: 2, 1: 9}[label]
                payload = text.encode()
                info = tarfile.TarInfo(f"aclImdb/{folder}/{index}_{rating}.txt")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return reviews


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Save a random 2-layer BERT and a word-level tokenizer where from_pretrained reads them."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = SPECIAL + sorted(set(POSITIVE + NEGATIVE + NEUTRAL)) + [".", ","]
    tokenizer = BertTokenizer(vocab={word: index for index, word in enumerate(words)})
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_teacher(model: Path, max_len: int = 64, seed: int = 0):
    """A :class:`Teacher` over the tiny BERT with a seeded, dropout-free head (mean pooling,
    head+tail truncation keeping 8 head tokens)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from bertdistill.teacher.inference import Teacher
    from bertdistill.teacher.model import BertClassifier

    torch.manual_seed(seed)
    encoder = AutoModel.from_pretrained(model, add_pooling_layer=False)
    classifier = BertClassifier(encoder, "mean", dropout=0.0).eval()
    spec = EncodingSpec(max_len=max_len, truncation="head_tail", head_tokens=8, pooling="mean")
    return Teacher(classifier, AutoTokenizer.from_pretrained(model), spec, torch.device("cpu"))


def dropout_free_copy(model: Path, folder: Path) -> Path:
    """A copy of a saved BERT with its dropout off, for tests that compare training runs."""
    shutil.copytree(model, folder)
    config = json.loads((folder / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def tiny_params(source: Path, model: Path) -> dict:
    """The committed params.yaml, shrunk to run the whole pipeline in well under a minute."""
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["prepare"] |= {
        "source": str(source),
        "train_size": 24,
        "val_size": 16,
        "test_size": 20,
        "unlabeled_size": 40,
    }
    params["finetune_teacher"] |= {
        "model": str(model),
        "max_len": 32,
        "head_tokens": 8,
        "epochs": 2,
        "batch_size": 8,
        "micro_batch_tokens": 128,
        "lr": 5e-3,
        "length_group_size": 2,
    }
    params["inference"] |= {"batch_tokens": 256, "max_batch_size": 16}
    params["augment"] |= {"n_augment": 2, "p_mask": 0.2, "p_ng": 0.25}
    params["distill_students"]["tfidf"] |= {"min_df": 1, "max_df": 1.0}
    params["distill_students"] |= {"tree_max_depth": 4, "tree_min_samples_leaf": 1}
    params["evaluate"] |= {"throughput_texts": 10, "throughput_repeats": 1}
    params["size_frontier"] |= TINY_FRONTIER
    params["explain"] |= TINY_EXPLAIN
    return params


def explain_params(**changes) -> ExplainParams:
    """The committed explain section with ``changes``."""
    committed = load_section(load_params(ROOT / "params.yaml"), "explain", ExplainParams)
    return ExplainParams.model_validate(committed.model_dump() | changes)  # validated again


# Written by the tiny run itself, or by DVC for the project's own data import.
NOT_COPIED = ("metrics/", "plots/", "dvc.lock", "data/imdb.dvc", "data/snli.dvc", "data/.gitignore")


def run(*command: str, cwd: Path) -> str:
    """A command with this Python's environment first on PATH; a failure shows its output."""
    result = run_captured(*command, cwd=cwd)
    return result.stdout + result.stderr


def run_json(*command: str, cwd: Path) -> object:
    """What a command (`dvc status --json`, say) prints on stdout, as JSON; DVC's warnings go to
    stderr."""
    return json.loads(run_captured(*command, cwd=cwd).stdout)


def tool_env() -> dict[str, str]:
    """This environment with this Python's tools (dvc, python) first on PATH."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run_captured(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr}")
    return result


def make_repo(folder: Path, source: Path, params: dict) -> Path:
    """A fresh git + DVC repo holding the project's tracked files and ``params``, run once with
    `dvc repro`. The tiny data enters through DVC as the default data does (`dvc import-url` to
    data/imdb)."""
    copy_project(folder)
    params["prepare"]["source"] = "data/imdb"
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", cwd=folder)
    run("dvc", "import-url", "-q", str(source), "data/imdb", cwd=folder)
    run("dvc", "repro", cwd=folder)
    commit(folder, "tiny run")
    return folder


def copy_run(built: Path, folder: Path) -> Path:
    """A copy of a repo built by :func:`make_repo`: git history, DVC cache and outputs, without
    DVC's temp folder (its locks and queue)."""

    def skip_dvc_tmp(parent: str, names: list[str]) -> list[str]:
        return ["tmp"] if parent.endswith(".dvc") else []

    return Path(shutil.copytree(built, folder, symlinks=True, ignore=skip_dvc_tmp))


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
    """The stages a `dvc repro` or `dvc exp run` printed as run, in pipeline order."""
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def copy_project(folder: Path, skip: tuple[str, ...] = NOT_COPIED) -> Path:
    """The project's files as git sees them (tracked, and untracked but not ignored) copied into
    ``folder``, those whose path starts with one of ``skip`` left out."""
    tracked = run("git", "ls-files", "-co", "--exclude-standard", cwd=ROOT).splitlines()
    for name in tracked:
        if (ROOT / name).is_file() and not name.startswith(skip):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


def commit(folder: Path, message: str) -> None:
    run("git", "add", "-A", cwd=folder)
    git_user = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    run("git", *git_user, "commit", "-qm", message, cwd=folder)


def run_predict(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """`python -m bertdistill.predict` in ``cwd``, its result whatever its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "bertdistill.predict", *args],
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        input=stdin,
        capture_output=True,
        text=True,
    )


def student_params(**overrides) -> StudentParams:
    values = dict(
        tfidf=TfidfParams(ngram_max=2, min_df=1, max_df=1.0, max_features=None, sublinear_tf=True),
        target="logits",
        temperature=1.0,
        gold_alpha=0.0,
        lr_C=(4.0,),
        svm_C=(0.5,),
        tree_max_depth=(6,),
        tree_min_samples_leaf=(1,),
        ridge_alpha=(1.0,),
        svr_C=(0.5,),
        svr_epsilon=0.0,
        max_iter=2000,
        seeds=1,
        unlabeled_limit=None,
        n_jobs=1,
    )
    return StudentParams(**(values | overrides))


def fake_teacher_logits(labels: np.ndarray, seed: int) -> np.ndarray:
    """A confident teacher that is right on every text, with some spread in its confidence."""
    spread = np.random.default_rng(seed).uniform(1.0, 4.0, size=len(labels))
    return np.where(labels == 1, spread, -spread)


def transfer_set(unlabeled_size: int = 120, augmented_size: int = 0) -> TransferSet:
    train, unlabeled = synthetic_reviews(80, seed=1), synthetic_reviews(unlabeled_size, seed=2)
    augmented = synthetic_reviews(augmented_size, seed=6)
    return TransferSet.build(
        (
            train["text"].tolist(),
            train["label"].to_numpy(),
            fake_teacher_logits(train["label"].to_numpy(), 0),
        ),
        (unlabeled["text"].tolist(), fake_teacher_logits(unlabeled["label"].to_numpy(), 1)),
        (augmented["text"].tolist(), fake_teacher_logits(augmented["label"].to_numpy(), 2)),
    )


def fit(params: StudentParams, unlabeled_size: int = 120):
    validation = synthetic_reviews(40, seed=5)
    return fit_students(
        transfer_set(unlabeled_size),
        validation["text"].tolist(),
        validation["label"].to_numpy(),
        params,
        seed=0,
    )


def teacher_params(model, **overrides) -> TeacherParams:
    values = dict(
        model=str(model),
        pooling="mean",
        max_len=64,
        truncation="head_tail",
        head_tokens=8,
        epochs=3,
        batch_size=8,
        micro_batch_tokens=512,
        lr=3e-3,
        weight_decay=0.01,
        warmup_ratio=0.1,
        dropout=0.0,
        max_grad_norm=1.0,
        length_group_size=4,
        precision="fp32",
        freeze_word_embeddings=False,
    )
    return TeacherParams(**(values | overrides))


SECTIONS = {
    "prepare": PrepareParams,
    "finetune_teacher": TeacherParams,
    "inference": InferenceParams,
    "augment": AugmentParams,
    "distill_students": StudentParams,
    "evaluate": EvaluateParams,
    "size_frontier": FrontierParams,
    "explain": ExplainParams,
}


@functools.cache
def _prepare_main():
    return runpy.run_path(str(ROOT / "stages" / "prepare.py"))["main"]


def run_prepare(folder: Path, source: Path, seed: int = 0, **prepare) -> tuple[int, str]:
    """The prepare stage, in this process, on ``source`` with the committed params changed by
    ``prepare`` and ``seed``; writes under ``folder``/out and returns (exit code, stderr)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"] |= {"source": str(source)} | prepare
    params["seed"] = seed
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    out = folder / "out"
    argv = ["prepare.py", "--params", str(folder / "params.yaml"), "--out-dir", str(out)]
    argv += ["--metrics", str(out / "prepare.json"), "--timing", str(out / "timing.json")]
    stderr = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(stderr):
        saved, sys.argv = sys.argv, argv
        try:
            run_cli(_prepare_main())
        except SystemExit as exit_:
            code = exit_.code
        finally:
            sys.argv = saved
    return code, stderr.getvalue()
