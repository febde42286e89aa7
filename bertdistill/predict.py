"""`predict`: classify texts with the teacher or any student, from the command line.

    predict "A wonderful film." "Two hours I will not get back."
    predict --model teacher --explain "A wonderful film."
    predict --file reviews.txt --json          # one review per line; or pipe them on stdin

Prints label, P(positive) and the text; ``--json`` prints one JSON object per text instead and
``--explain`` adds the model's top words (LIME, seeded and sized by params.yaml's `explain`).
Run from the project root after `dvc repro` (or `dvc pull`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bertdistill.config import ExplainParams, load_params, load_section, load_seed
from bertdistill.errors import UserError, run_cli
from bertdistill.registry import MODEL_NAMES
from bertdistill.scoring import sigmoid, two_class_proba

Logits = Callable[[Sequence[str]], np.ndarray]


def load_model(name: str, models_dir: Path, params: dict) -> Logits:
    """``texts -> logits`` for one model. A linear student reads its numpy export (no
    scikit-learn, no torch: well under a second); a tree reads its skops file."""
    if name == "teacher":
        from bertdistill.config import InferenceParams
        from bertdistill.inference import load_teacher

        inference = load_section(params, "inference", InferenceParams)
        teacher = load_teacher(models_dir / "teacher", precision=inference.precision)
        return lambda texts: teacher.logits(list(texts), inference, progress=False)
    from bertdistill.linear import LINEAR_DIR, LinearStudent
    from bertdistill.registry import LINEAR_STUDENTS

    if name in LINEAR_STUDENTS and (models_dir / "students" / LINEAR_DIR).is_dir():
        return LinearStudent(models_dir / "students", name).logits
    from bertdistill.student_files import load_students

    students = load_students(models_dir / "students", names=[name])
    return lambda texts: students.logits(name, list(texts))


def read_texts(texts: list[str], file: str | None) -> list[str]:
    """Texts from the arguments, else from ``file`` (one per line), else from stdin."""
    if texts:
        return texts
    if file:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"cannot read {path} as UTF-8 text ({error})") from None
    else:
        lines = sys.stdin.read().splitlines()
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise UserError("no text to classify: pass texts as arguments, --file FILE, or on stdin")
    return texts


def predictions(
    logits_of: Logits, texts: list[str], explain: ExplainParams | None, seed: int
) -> list[dict]:
    """Label and P(positive) per text, with LIME's top words when ``explain`` is given."""
    if explain is not None:  # lime is slow to import: only when asked for
        from bertdistill.explain import explain as lime_explain

    probabilities = sigmoid(logits_of(texts))
    rows = []
    for text, probability in zip(texts, probabilities, strict=True):
        row = {
            "label": "positive" if probability >= 0.5 else "negative",
            "probability_positive": round(float(probability), 4),
            "text": text,
        }
        if explain is not None:
            explanation = lime_explain(
                lambda batch: two_class_proba(logits_of(batch)),
                text,
                explain.num_features,
                explain.num_samples,
                seed,
            )
            row["top_words"] = explanation.words
        rows.append(row)
    return rows


def format_row(row: dict, width: int = 70) -> str:
    text = row["text"] if len(row["text"]) <= width else row["text"][: width - 3] + "..."
    line = f"{row['label']:<8}  {row['probability_positive']:.4f}  {text}"
    if "top_words" in row:
        words = ", ".join(f"{word} {weight:+.3f}" for word, weight in row["top_words"])
        line += f"\n          top words: {words}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="predict",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("texts", nargs="*", help="texts to classify (default: --file or stdin)")
    parser.add_argument("--model", default="lr_distilled", choices=MODEL_NAMES)
    parser.add_argument("--file", help="a UTF-8 file with one text per line")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--explain", action="store_true", help="add LIME's top words")
    parser.add_argument("--models-dir", default="models", help="folder of teacher/, students/")
    parser.add_argument("--params", default="params.yaml", help="for inference and explain")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    params = load_params(args.params)
    texts = read_texts(args.texts, args.file)
    explain = load_section(params, "explain", ExplainParams) if args.explain else None
    logits_of = load_model(args.model, Path(args.models_dir), params)
    for row in predictions(logits_of, texts, explain, load_seed(params)):
        print(json.dumps(row, ensure_ascii=False) if args.json else format_row(row))


def cli() -> None:
    run_cli(main)


if __name__ == "__main__":
    cli()
