import dataclasses
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from support import ROOT

from bertdistill.core.registry import MODEL_NAMES, STUDENT_NAMES
from bertdistill.evaluation.experiments import CONFUSION
from bertdistill.teacher.files import SPEC_FILE

TOOL = [sys.executable, str(ROOT / "tools/truncation.py"), "--resamples", "500"]
MAX_LEN = 12  # [CLS] + 10 words + [SEP]


def write_run(folder, tiny_bert, words, actual, wrong):
    """A finished run: test texts of ``words`` words each, a teacher folder whose limit is
    MAX_LEN tokens, and confusion rows where each model in ``wrong`` misses the given texts."""
    (folder / "data/prepared").mkdir(parents=True)
    texts = [" ".join(["good"] * count) for count in words]
    ids = [f"test-{index:06d}" for index in range(len(texts))]
    frame = pd.DataFrame({"id": ids, "text": texts, "label": actual})
    frame.to_parquet(folder / "data/prepared/test.parquet")
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    teacher = folder / "models/teacher"
    shutil.copytree(tiny_bert, teacher)
    spec = {"max_len": MAX_LEN, "truncation": "head_tail", "head_tokens": 4, "pooling": "mean"}
    (teacher / SPEC_FILE).write_text(json.dumps(spec))
    names = ["negative", "positive"]
    for model in MODEL_NAMES:
        missed = wrong.get(model, set())
        predicted = [1 - label if index in missed else label for index, label in enumerate(actual)]
        path = folder / CONFUSION.format(model=model)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = {"actual": [names[label] for label in actual]}
        rows["predicted"] = [names[label] for label in predicted]
        pd.DataFrame(rows).to_csv(path, index=False)


def test_a_student_that_beats_the_teacher_on_cut_texts_only_is_shown_so(tmp_path, tiny_bert):
    # 200 texts of 10 words (read whole) and 200 of 11 (cut); the teacher misses a quarter of
    # the cut ones, every student a tenth of the whole ones
    words = [10] * 200 + [11] * 200
    actual = [index % 2 for index in range(400)]
    missed_whole = set(range(0, 200, 10))
    wrong = {"teacher": set(range(200, 400, 4))} | dict.fromkeys(STUDENT_NAMES, missed_whole)
    write_run(tmp_path, tiny_bert, words, actual, wrong)
    subprocess.run([*TOOL, "--out", "cut.json"], cwd=tmp_path, check=True)
    metrics = json.loads((tmp_path / "cut.json").read_text())
    assert (metrics["whole_texts"], metrics["cut_texts"], metrics["max_len"]) == (200, 200, 12)
    assert metrics["whole_teacher_accuracy"] == 1.0 and metrics["cut_teacher_accuracy"] == 0.75
    for model in STUDENT_NAMES:
        cut = f"cut_{model}_vs_teacher_accuracy_diff"
        whole = f"whole_{model}_vs_teacher_accuracy_diff"
        assert metrics[cut] == pytest.approx(0.25) and metrics[f"{cut}_ci_low"] > 0
        assert metrics[whole] == pytest.approx(-0.1) and metrics[f"{whole}_ci_high"] < 0
        assert metrics[f"cut_{model}_vs_teacher_mcnemar_p"] < 0.001


def test_confusion_rows_of_another_test_split_are_one_clear_error(tmp_path, tiny_bert):
    write_run(tmp_path, tiny_bert, [3, 20, 5], [0, 1, 0], {})
    pd.DataFrame({"id": ["test-000000"], "text": ["good"], "label": [0]}).to_parquet(
        tmp_path / "data/prepared/test.parquet"
    )
    result = subprocess.run(TOOL, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not hold the test split's texts in its order" in result.stderr.strip()


def test_reread_labels_the_cut_texts_again_with_a_longer_window(tmp_path, tiny_bert):
    from support import tiny_teacher

    from bertdistill.core.logits import predicted_classes
    from bertdistill.core.params import BatchingParams
    from bertdistill.teacher.inference import load_teacher
    from bertdistill.teacher.training import save_teacher

    words = [5] * 30 + [30] * 30
    actual = [index % 2 for index in range(60)]
    write_run(tmp_path, tiny_bert, words, actual, {"lr_distilled": set(range(30, 60, 3))})
    teacher = tiny_teacher(tiny_bert, max_len=MAX_LEN)
    save_teacher(tmp_path / "models/teacher", teacher.model, teacher.tokenizer, teacher.spec)
    subprocess.run([*TOOL, "--reread", "64", "--out", "re.json"], cwd=tmp_path, check=True)
    metrics = json.loads((tmp_path / "re.json").read_text())
    # the same teacher, loaded as the tool loads it, reading 64 tokens of the 30 cut texts
    reread = load_teacher(tmp_path / "models/teacher")
    reread.spec = dataclasses.replace(reread.spec, max_len=64)
    texts = [" ".join(["good"] * 30)] * 30
    batching = BatchingParams(batch_tokens=4096, max_batch_size=64)
    right = predicted_classes(reread.logits(texts, batching, progress=False)) == actual[30:]
    assert metrics["cut_texts"] == 30
    assert metrics["cut_teacher_64_accuracy"] == pytest.approx(right.mean(), abs=1e-6)
    student = 1 - 10 / 30  # lr_distilled misses every third cut text
    key = "cut_lr_distilled_vs_teacher_64_accuracy_diff"
    assert metrics[key] == pytest.approx(student - right.mean(), abs=1e-6)
    change = metrics["cut_teacher_64_vs_teacher_accuracy_diff"]
    assert change == pytest.approx(right.mean() - 1, abs=1e-6)
    result = subprocess.run(
        [*TOOL, "--reread", "1000"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and "beyond the teacher's 128 positions" in result.stderr
