"""DVC stage `evaluate`: the teacher's stored logits and every student scored on the test set,
with seeded bootstrap intervals, McNemar's test and the students' spread over seeds; metrics,
report, plots and the students' speed. Imports no torch: the teacher's speed is
`label_with_teacher`'s timing file (and bench/)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import write_csv, write_json, write_json_folder, write_text
from bertdistill.core.params import (
    ClassesParams,
    DatasetNameParams,
    EvaluateParams,
    TeacherNameParams,
)
from bertdistill.core.params_file import load_section
from bertdistill.core.registry import STUDENT_NAMES, TEACHER, teacher_model_title
from bertdistill.core.stage import begin, parser, read_with_logits, write_timing
from bertdistill.core.tables import PAIR, frame_logits, frame_texts
from bertdistill.evaluation.classification import (
    classification_metrics,
    confusion_rows,
    flatten,
    headline,
    roc_points,
    throughput,
)
from bertdistill.evaluation.report import ReportRun, report_markdown
from bertdistill.evaluation.statistics import Interval, seed_spread, with_intervals
from bertdistill.students.files import FEATURIZER_FILE, VOCABULARY_FILE, load_students, student_file
from bertdistill.students.models import Students
from bertdistill.teacher.files import SPEC_FILE, WEIGHTS_FILE

logger = logging.getLogger("evaluate")


def read_teacher_files(folder: Path) -> tuple[dict, int]:
    """The saved teacher's encoding spec and its weights' size, read before anything is written
    (no torch: the teacher is never loaded here)."""
    spec_path, weights = folder / SPEC_FILE, folder / WEIGHTS_FILE
    try:
        return json.loads(spec_path.read_text(encoding="utf-8")), weights.stat().st_size
    except (OSError, ValueError) as error:
        raise UserError(
            f"{folder} is not a saved teacher ({error}): run `dvc repro finetune_teacher`"
        ) from None


def arguments() -> argparse.Namespace:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument(
        "--students", nargs="+", required=True, help="folders of skops students"
    )
    args_parser.add_argument(
        "--student-seeds",
        nargs="+",
        required=True,
        help="folders of the students re-fitted with other seeds",
    )
    args_parser.add_argument("--metrics", required=True, help="every quality metric, JSON")
    args_parser.add_argument(
        "--headline",
        required=True,
        help="folder of the headline metrics DVC shows: a JSON file per row (teacher, each kind)",
    )
    args_parser.add_argument("--report", required=True, help="markdown report")
    args_parser.add_argument("--plots-dir", required=True, help="folder for ROC/confusion CSVs")
    return args_parser.parse_args()


def per_model_metrics(
    labels: np.ndarray,
    logits: dict[str, np.ndarray],
    classes: tuple[str, ...],
    accuracy: dict[str, Interval],
    sizes: dict[str, int],
    students: Students,
    features: sp.spmatrix,
) -> dict[str, dict[str, float]]:
    """Each model's test scores, accuracy interval and size; a student's spread over seeds."""
    per_model = {}
    for name, model_logits in logits.items():
        scores = classification_metrics(labels, model_logits, logits[TEACHER], classes)
        per_model[name] = scores | {
            "accuracy_ci_low": accuracy[name].low,
            "accuracy_ci_high": accuracy[name].high,
            "size_bytes": sizes[name],
        }
        if name != TEACHER:
            replicates = list(students.replicate_logits(name, features).values())
            if not replicates:  # deterministic: every seed gives these very logits
                replicates = [model_logits] * len(students.replicates)
            per_model[name] |= seed_spread(labels, [model_logits, *replicates])
        logger.info("%s: %s", name, per_model[name])
    return per_model


def write_plots(
    plots_dir: str, labels: np.ndarray, logits: dict[str, np.ndarray], classes: tuple[str, ...]
) -> None:
    """Each model's ROC points and per-text confusion rows, as DVC's plot templates read them."""
    for name, model_logits in logits.items():
        write_csv(f"{plots_dir}/roc/{name}.csv", roc_points(labels, model_logits))
        write_csv(
            f"{plots_dir}/confusion/{name}.csv", confusion_rows(labels, model_logits, classes)
        )


def student_throughput(
    students: Students, texts: list, config: EvaluateParams
) -> dict[str, float | int]:
    """Each student's median texts per second on the first test texts, for the timing file."""
    sample = texts[: config.throughput_texts]
    rates = {
        name: throughput(
            lambda batch, name=name: students.logits(name, batch), sample, config.throughput_repeats
        )
        for name in STUDENT_NAMES
    }
    logger.info("texts/s: %s", {name: round(rate, 1) for name, rate in rates.items()})
    rounded = {f"{name}_texts_per_second": round(rate, 2) for name, rate in rates.items()}
    return {"throughput_texts": len(sample)} | rounded


def main() -> None:
    args = arguments()
    params, seed, started = begin(args, uses_torch=False)
    config = load_section(params, "evaluate", EvaluateParams)
    dataset = load_section(params, "prepare", DatasetNameParams, only=True).dataset
    classes = load_section(params, "prepare", ClassesParams, only=True).names
    teacher_model = load_section(params, "finetune_teacher", TeacherNameParams, only=True).model
    teacher_spec, teacher_size = read_teacher_files(Path(args.teacher))

    test = read_with_logits(*args.test)
    texts, labels = frame_texts(test), test["label"].to_numpy()
    students = load_students(args.students, replicates=args.student_seeds)
    features = students.features(texts)
    logits = {TEACHER: frame_logits(test)}
    logits |= {name: students.logits(name, features=features) for name in STUDENT_NAMES}
    sizes = {TEACHER: teacher_size}
    sizes |= {name: student_file(args.students, name).stat().st_size for name in STUDENT_NAMES}
    accuracy, comparisons = with_intervals(labels, logits, config.bootstrap_resamples, seed)
    per_model = per_model_metrics(labels, logits, classes, accuracy, sizes, students, features)
    write_plots(args.plots_dir, labels, logits, classes)
    metrics = flatten(per_model)
    for comparison in comparisons:
        logger.info("%s: %s", comparison.key, comparison.difference.signed())
        metrics |= comparison.metrics()
    metrics["featurizer_size_bytes"] = sum(  # each student folder holds a copy: one counted
        (Path(args.students[0]) / name).stat().st_size
        for name in (FEATURIZER_FILE, VOCABULARY_FILE)
    )
    metrics["test_size"] = len(test)
    metrics["bootstrap_resamples"] = config.bootstrap_resamples
    metrics["seeds"] = 1 + len(students.replicates)
    write_json(args.metrics, metrics)
    write_json_folder(args.headline, headline(metrics))
    run = ReportRun(
        test_size=len(test),
        dataset=dataset,
        teacher_title=teacher_model_title(teacher_model, teacher_spec, PAIR in test.columns),
        resamples=config.bootstrap_resamples,
        seeds=metrics["seeds"],
        classes=classes,
        refitted=students.refitted(),
    )
    write_text(args.report, report_markdown(per_model, accuracy, comparisons, run))
    write_timing(args.timing, started, **student_throughput(students, texts, config))


if __name__ == "__main__":
    run_cli(main)
