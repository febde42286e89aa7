import json
import shutil
import subprocess
import sys

import numpy as np
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
    import torch
    from support import NEGATIVE, POSITIVE, tiny_teacher

    from bertdistill.core.logits import predicted_classes
    from bertdistill.core.params import BatchingParams
    from bertdistill.teacher.model import EncodingSpec
    from bertdistill.teacher.training import save_teacher

    # 30 short texts, and 30 of 80 varied words: longer than the 64 the teacher reads again
    rng = np.random.default_rng(0)
    long_texts = [" ".join(rng.choice(POSITIVE + NEGATIVE, size=80)) for _ in range(30)]
    teacher = tiny_teacher(tiny_bert, max_len=MAX_LEN)  # head_tail, 8 head tokens
    batching = BatchingParams(batch_tokens=4096, max_batch_size=64)

    def predicted(max_len: int) -> np.ndarray:  # the in-memory teacher, its window set here
        teacher.spec = EncodingSpec(max_len, "head_tail", head_tokens=8, pooling="mean")
        return predicted_classes(teacher.logits(long_texts, batching, progress=False))

    with torch.no_grad():  # centre the random head so its predictions split at 64 tokens
        teacher.spec = EncodingSpec(64, "head_tail", head_tokens=8, pooling="mean")
        teacher.model.classifier.bias -= float(
            np.median(teacher.logits(long_texts, batching, progress=False))
        )
    at_64, at_12 = predicted(64), predicted(MAX_LEN)
    assert (at_64 != at_12).any() and 0 < at_64.mean() < 1  # the window changes what it says
    teacher.spec = EncodingSpec(MAX_LEN, "head_tail", head_tokens=8, pooling="mean")
    actual = [index % 2 for index in range(30)] + at_64.tolist()  # right on all cut ones at 64
    wrong = {"lr_distilled": set(range(30, 60, 3))}
    write_run(tmp_path, tiny_bert, [5] * 30 + [80] * 30, actual, wrong)
    test = pd.read_parquet(tmp_path / "data/prepared/test.parquet")
    test.loc[30:, "text"] = long_texts
    test.to_parquet(tmp_path / "data/prepared/test.parquet")
    save_teacher(tmp_path / "models/teacher", teacher.model, teacher.tokenizer, teacher.spec)
    subprocess.run([*TOOL, "--reread", "64", "--out", "re.json"], cwd=tmp_path, check=True)
    metrics = json.loads((tmp_path / "re.json").read_text())
    assert metrics["cut_texts"] == 30 and metrics["cut_teacher_64_accuracy"] == 1.0
    key = "cut_lr_distilled_vs_teacher_64_accuracy_diff"
    assert metrics[key] == pytest.approx(-10 / 30, abs=1e-6)  # misses every third cut text
    assert metrics["cut_teacher_64_vs_teacher_accuracy_diff"] == 0.0  # right on all at 12 too
    for window in ("1000", "5"):
        result = subprocess.run(
            [*TOOL, "--reread", window], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "longer than the teacher's 12 tokens and at most its 128" in result.stderr
