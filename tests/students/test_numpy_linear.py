"""The numpy export of the linear students gives scikit-learn's logits, without scikit-learn."""

import json
import subprocess
import sys

import numpy as np
import pytest
from support import explain_params, fit, student_params, synthetic_reviews

from bertdistill.core.errors import UserError
from bertdistill.core.params import TfidfParams
from bertdistill.core.registry import LINEAR_STUDENTS
from bertdistill.predict import NO_KNOWN_WORD, load_model, predictions, read_texts
from bertdistill.students.files import save_students
from bertdistill.students.numpy_linear import LINEAR_DIR, LinearStudent

# Beyond the synthetic reviews: case, accents, punctuation, one-letter words (not tokens),
# only unseen words (the intercept alone), nothing at all.
ODD_TEXTS = ["GREAT Film!!! Great, great.", "Déjà vu: a b c", "zzzz qqqq", "", "  \n "]


@pytest.mark.parametrize(
    ("target", "temperature", "ngram_max", "sublinear_tf"),
    [
        ("logits", 1.0, 2, True),
        ("logits", 2.0, 1, False),
        ("probabilities", 2.0, 3, True),
    ],
)
def test_linear_export_gives_scikit_learns_logits(
    tmp_path, target, temperature, ngram_max, sublinear_tf
):
    tfidf = TfidfParams(
        ngram_max=ngram_max, min_df=1, max_df=1.0, max_features=None, sublinear_tf=sublinear_tf
    )
    students, _ = fit(student_params(target=target, temperature=temperature, tfidf=tfidf))
    save_students(tmp_path / "students", students)
    texts = synthetic_reviews(30, seed=9)["text"].tolist() + ODD_TEXTS
    for name in LINEAR_STUDENTS:
        fast = LinearStudent(tmp_path / "students", name).logits(texts)
        np.testing.assert_allclose(fast, students.logits(name, texts), rtol=1e-9, atol=1e-12)


def test_a_tampered_export_is_one_clear_error(tmp_path):
    students, _ = fit(student_params())
    save_students(tmp_path / "students", students)
    np.save(tmp_path / "students" / LINEAR_DIR / "lr_distilled.coef.npy", np.zeros(3))
    with pytest.raises(UserError, match="does not match"):
        LinearStudent(tmp_path / "students", "lr_distilled")
    (tmp_path / "students" / LINEAR_DIR / "linear.json").write_text("{")
    with pytest.raises(UserError, match="re-run `dvc repro -f distill_students`"):
        LinearStudent(tmp_path / "students", "lr_baseline")


def test_predict_warns_exactly_for_texts_whose_tfidf_vector_is_all_zero(tmp_path):
    students, _ = fit(student_params())
    save_students(tmp_path / "models" / "students", students)
    texts = synthetic_reviews(5, seed=9)["text"].tolist() + ODD_TEXTS
    unknown = (students.featurizer.transform(texts).getnnz(axis=1) == 0).tolist()
    assert unknown == [False] * 6 + [True] * 4  # what the texts were chosen for
    for name in ("lr_distilled", "svm_baseline", "tree_distilled", "tree_baseline"):
        model = load_model(name, tmp_path / "models", {})
        rows = predictions(model, texts, explain=None, seed=0)
        assert ["warning" in row for row in rows] == unknown, name
    assert rows[-2]["warning"] == f"'' {NO_KNOWN_WORD}"
    assert rows[-3]["warning"].startswith("'zzzz qqqq' holds no word the model knows")
    long_text = "zzzz " * 50
    warning = predictions(model, [long_text], None, 0)[0]["warning"]
    assert warning.startswith(f"{long_text[:37] + '...'!r} holds")


def test_predict_explains_a_text_without_words_as_no_top_words(tmp_path):
    students, _ = fit(student_params())
    save_students(tmp_path / "models" / "students", students)
    model = load_model("lr_distilled", tmp_path / "models", {})
    explain = explain_params(num_samples=20, num_features=3, top_k=1)
    rows = predictions(model, ["", " !!! ", "a great film"], explain, seed=0)
    assert [row["top_words"] for row in rows[:2]] == [[], []]
    assert "great" in [word for word, _ in rows[2]["top_words"]]


def test_predict_with_a_linear_student_imports_neither_scikit_learn_nor_torch(tmp_path):
    students, _ = fit(student_params())
    save_students(tmp_path / "models" / "students", students)
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from bertdistill.predict import load_model\n"
        f"model = load_model('svm_distilled', Path({str(tmp_path / 'models')!r}), {{}})\n"
        "model.logits(['a fine film'])\n"
        "assert model.knows_a_word('a fine film') and not model.knows_a_word('zzzz')\n"
        "heavy = ('sklearn', 'torch', 'skops', 'scipy', 'transformers', 'lime', 'pandas')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == []


def test_a_tab_splits_a_line_into_a_pair_only_for_a_pair_task(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("A film\\tthat bores.\nA man sleeps.\tA man is awake.\n", encoding="utf-8")
    assert list(read_texts([], str(lines))) == [
        "A film\\tthat bores.",
        "A man sleeps.\tA man is awake.",
    ]
    with pytest.raises(UserError, match="line 1 has no tab"):
        read_texts([], str(lines), pair_task=True)
    lines.write_text("A man sleeps.\tA man is awake.\n", encoding="utf-8")
    assert list(read_texts([], str(lines), pair_task=True)) == [
        ("A man sleeps.", "A man is awake.")
    ]
    assert list(read_texts([], None, [["a", "b"]], pair_task=True)) == [("a", "b")]
    with pytest.raises(UserError, match="not both"):
        read_texts(["a text"], None, [["a", "b"]], pair_task=True)
