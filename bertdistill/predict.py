"""`predict`: classify texts with the teacher or any student, from the command line.

    predict "A wonderful film." "Two hours I will not get back."
    predict --model teacher --explain "A wonderful film."
    predict --file reviews.txt --json          # one review per line; or pipe them on stdin
    predict --pair "A man sleeps." "A man is awake."   # a sentence pair (repeatable)
    predict --file pairs.tsv                   # a pair task: premise<TAB>hypothesis per line

Prints label, P(positive) (with K classes: P(label)) and the text; ``--json`` prints one JSON
object per text instead (K classes: every class's probability) and ``--explain`` adds the
model's top words (LIME, seeded and sized by params.yaml's `explain`; towards the label it
gives with K classes, towards positive with two; a pair's words as p_/h_ words). Class
names come from params.yaml's `prepare.classes`.
A text holding no word the model knows gets a warning on stderr (and a "warning" in its JSON).
Run from the project root after `dvc repro` (or `dvc pull`).
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bertdistill.core.errors import ArgumentParser, UserError, not_utf8, run_cli
from bertdistill.core.logits import class_proba
from bertdistill.core.params import SENTIMENT_CLASSES, ExplainParams, TaskParams
from bertdistill.core.params_file import load_params, load_section, load_seed
from bertdistill.core.registry import MODEL_NAMES
from bertdistill.core.texts import Text, text_parts
from bertdistill.students.pair_features import student_text

Logits = Callable[[Sequence[Text]], np.ndarray]
_WORD = re.compile(r"\w")  # LIME's words are the runs between its split pattern, \W+
NO_KNOWN_WORD = "holds no word the model knows, so its label and probability are the model's prior"
BATCH_SIZE = 256  # texts classified at once: a file of any length streams in bounded memory


@dataclass(frozen=True)
class Model:
    """``logits(texts)`` of one model, and whether a text holds a word the model knows. A student
    sees a text without one as an all-zero TF-IDF vector (its output: intercept or root leaf);
    the teacher sees an empty or blank text as just [CLS] [SEP]."""

    logits: Logits
    knows_a_word: Callable[[Text], bool]


def load_model(name: str, models_dir: Path, params: dict) -> Model:
    """One model. A linear student reads its numpy export (no scikit-learn, no torch: well under
    a second); a tree reads its skops file."""
    if name == "teacher":
        from bertdistill.core.params import InferenceParams
        from bertdistill.teacher.inference import load_teacher

        inference = load_section(params, "inference", InferenceParams)
        teacher = load_teacher(models_dir / "teacher", precision=inference.precision)
        return Model(
            lambda texts: teacher.logits(list(texts), inference, progress=False),
            lambda text: any(part.strip() for part in text_parts(text)),
        )
    from bertdistill.core.registry import LINEAR_STUDENTS
    from bertdistill.students.numpy_linear import LINEAR_DIR, LinearStudent

    if name in LINEAR_STUDENTS and (models_dir / "students" / LINEAR_DIR).is_dir():
        student = LinearStudent(models_dir / "students", name)
        return Model(
            student.logits,
            lambda text: any(
                term in student.vocabulary for term in student.terms(student_text(text))
            ),
        )
    from bertdistill.students.files import load_students

    students = load_students([models_dir / "students", models_dir / "trees"], names=[name])
    return Model(
        lambda texts: students.logits(name, list(texts)),
        lambda text: students.features([text]).count_nonzero() > 0,
    )


def read_texts(
    texts: list[str],
    file: str | None,
    pairs: list[list[str]] | None = None,
    pair_task: bool = False,
) -> Iterator[Text]:
    """Texts from the arguments (``pairs``: sentence pairs), else from ``file`` (one per line),
    else from stdin. For a pair task (``prepare.pair_column`` set) every line is a pair,
    premise<TAB>hypothesis; otherwise a line is one text, tabs and all.

    Lines are read one at a time, so a long file needs memory for a batch, not for the file. A
    file that is not UTF-8 text is refused, never decoded with replacement characters: a
    replaced "très" is a word no model knows, which would shift the prediction without a
    sign. A file is checked whole before its first text is given, so a bad line leaves no
    output; stdin is read once, so the texts before a bad line are classified.
    """
    if texts and pairs:
        raise UserError("pass texts or --pair pairs, not both: a model reads one or the other")
    if pairs and not pair_task:
        raise UserError(
            "--pair classifies sentence pairs, but this model reads single texts "
            "(prepare.pair_column is not set): pass the texts instead"
        )
    if texts and pair_task:
        raise UserError(
            "this model reads sentence pairs (prepare.pair_column): pass --pair PREMISE "
            "HYPOTHESIS, or a file of premise<TAB>hypothesis lines"
        )
    for number, text in enumerate(texts or [part for pair in pairs or [] for part in pair], 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # the shell passed bytes that are not UTF-8
            raise UserError(f"text argument {number} is not UTF-8: pass UTF-8 text") from None
    if texts or pairs:
        return iter(texts or [tuple(pair) for pair in pairs])
    if file:
        path = Path(file)
        for _ in _file_texts(path, pair_task):  # check it whole before any output
            pass
        lines = _file_texts(path, pair_task)
    else:
        lines = _texts(sys.stdin.buffer, "stdin", pair_task)
    first = next(lines, None)
    if first is None:
        raise UserError("no text to classify: pass texts as arguments, --file FILE, or on stdin")
    return itertools.chain([first], lines)


def _file_texts(path: Path, pair_task: bool) -> Iterator[Text]:
    if path.is_dir():
        raise UserError(f"{path} is a folder: pass a text file with one text per line")
    try:
        with path.open("rb") as stream:
            yield from _texts(stream, path, pair_task)
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def _texts(stream: BinaryIO, name: object, pair_task: bool) -> Iterator[Text]:
    """The non-blank lines of ``stream`` (a pair task: split at the first tab), read one at a
    time; a byte that is not UTF-8 or a NUL byte (a binary file) is one error naming where."""
    offset = 0
    for number, raw in enumerate(stream, 1):
        start = offset
        offset += len(raw)
        if number == 1 and raw.startswith(codecs.BOM_UTF8):  # as Windows editors save UTF-8
            raw, start = raw[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
        if (nul := raw.find(b"\0")) >= 0:
            raise UserError(
                f"{name} holds a NUL byte at offset {start + nul}: it is binary, not text: "
                f"pass a UTF-8 text file"
            )
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as error:
            raise not_utf8(name, error, start) from None
        if not line.strip():
            continue
        if not pair_task:
            yield line
        elif "\t" in line:
            yield tuple(line.split("\t", 1))
        else:
            raise UserError(
                f"{name} line {number} has no tab: this model reads sentence pairs "
                f"(prepare.pair_column), one premise<TAB>hypothesis per line"
            )


def batches(texts: Iterable[Text], size: int = BATCH_SIZE) -> Iterator[list[Text]]:
    texts = iter(texts)
    while batch := list(itertools.islice(texts, size)):
        yield batch


def predictions(
    model: Model,
    texts: list[Text],
    explain: ExplainParams | None,
    seed: int,
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> list[dict]:
    """Label and P(positive) per text (K classes: P(label) and every class's probability), with
    LIME's top words when ``explain`` is given, and a warning for a text that holds no word the
    model knows."""
    if explain is not None:  # lime is slow to import: only when asked for
        from bertdistill.explain.lime_explainer import explain as lime_explain

    probabilities = class_proba(model.logits(texts))
    rows = []
    for text, probability in zip(texts, probabilities, strict=True):
        label = int(np.argmax(probability)) if len(classes) > 2 else int(probability[1] >= 0.5)
        row = {"label": classes[label]}
        if len(classes) > 2:
            row["probability"] = round(float(probability[label]), 4)
            row["probabilities"] = {
                name: round(float(value), 4)
                for name, value in zip(classes, probability, strict=True)
            }
        else:
            row["probability_positive"] = round(float(probability[1]), 4)
        row |= {"text": text} if isinstance(text, str) else {"text": text[0], "text_pair": text[1]}
        if explain is not None and not any(_WORD.search(part) for part in text_parts(text)):
            row["top_words"] = []  # LIME perturbs words: on a text of none it raises ValueError
        elif explain is not None:
            row["top_words"] = lime_explain(
                lambda batch: class_proba(model.logits(batch)),
                text,
                explain.num_features,
                explain.num_samples,
                seed,
                label if len(classes) > 2 else 1,
            )
        if not model.knows_a_word(text):
            row["warning"] = f"{shorten(' | '.join(text_parts(text)), 40)!r} {NO_KNOWN_WORD}"
        rows.append(row)
    return rows


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_row(row: dict, width: int = 70) -> str:
    probability = row.get("probability", row.get("probability_positive"))
    text = row["text"] if "text_pair" not in row else f"{row['text']} | {row['text_pair']}"
    line = f"{row['label']:<8}  {probability:.4f}  {shorten(text, width)}"
    if "top_words" in row:
        words = ", ".join(f"{word} {weight:+.3f}" for word, weight in row["top_words"])
        line += f"\n          top words: {words}"
    return line


def main() -> None:
    parser = ArgumentParser(
        prog="bertdistill-predict",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("texts", nargs="*", help="texts to classify (default: --file or stdin)")
    parser.add_argument("--model", default="lr_distilled", choices=MODEL_NAMES)
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("PREMISE", "HYPOTHESIS"),
        help="a sentence pair to classify (repeatable)",
    )
    parser.add_argument(
        "--file", help="a UTF-8 file with one text (or tab-separated pair) per line"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--explain", action="store_true", help="add LIME's top words")
    parser.add_argument("--models-dir", default="models", help="folder of teacher/, students/")
    parser.add_argument("--params", default="params.yaml", help="for inference and explain")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    params = load_params(args.params)
    task = load_section(params, "prepare", TaskParams, only=True)
    texts = read_texts(args.texts, args.file, args.pair, task.pair_column is not None)
    classes = task.names
    explain = load_section(params, "explain", ExplainParams) if args.explain else None
    model = load_model(args.model, Path(args.models_dir), params)
    seed = load_seed(params)
    for batch in batches(texts):
        for row in predictions(model, batch, explain, seed, classes):
            if "warning" in row:
                print(f"warning: {row['warning']}", file=sys.stderr)
            print(json.dumps(row, ensure_ascii=False) if args.json else format_row(row))


def cli() -> None:
    run_cli(main)


if __name__ == "__main__":
    cli()
