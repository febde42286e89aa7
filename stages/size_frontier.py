"""DVC stage `size_frontier`: what accuracy each student keeps at a size a person can read. The
linear students re-fitted within budgets of non-zero n-gram weights, the trees within budgets
of leaves (each budget's regularisation chosen on validation), scored on the test set against
their twins and the teacher; metrics, the plot's rows and a report that prints the smallest
models whole."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from bertdistill.core.errors import run_cli
from bertdistill.core.files import write_csv, write_json, write_text
from bertdistill.core.params import (
    ClassesParams,
    DatasetNameParams,
    FrontierParams,
    StudentFitParams,
    TeacherNameParams,
)
from bertdistill.core.params_file import load_section
from bertdistill.core.registry import LINEAR_KINDS, STUDENTS, teacher_model_title
from bertdistill.core.stage import begin, parser, read_frame, read_with_logits, write_timing
from bertdistill.core.tables import frame_logits, frame_texts
from bertdistill.evaluation.size_frontier import (
    FrontierRun,
    frontier_metrics,
    plot_rows,
    report_markdown,
    score,
)
from bertdistill.evaluation.statistics import hits
from bertdistill.students.budgets import Budgeted, fit_at_budgets, model_size
from bertdistill.students.files import load_students
from bertdistill.students.fitting import fit_data
from bertdistill.students.models import Students
from bertdistill.students.transfer_set import read_transfer_set

logger = logging.getLogger("size_frontier")


def arguments() -> argparse.Namespace:
    args_parser = parser(__doc__)
    args_parser.add_argument("--train", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument("--unlabeled", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument("--augmented", help="teacher-labelled synthetic variants")
    args_parser.add_argument("--validation", required=True, help="validation split, for tuning")
    args_parser.add_argument("--test", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument(
        "--students", nargs="+", required=True, help="folders of the full skops students"
    )
    args_parser.add_argument("--metrics", required=True, help="every figure, JSON")
    args_parser.add_argument("--report", required=True, help="markdown report")
    args_parser.add_argument("--plots-dir", required=True, help="folder for the curves' CSVs")
    return args_parser.parse_args()


def full_students(students: Students, val_features, val_labels: np.ndarray) -> list[Budgeted]:
    """The students `distill_students` fitted, as the frontier's points without a budget."""
    columns = np.arange(val_features.shape[1])
    points = []
    for student in STUDENTS:
        logits = students.logits(student.name, features=val_features)
        accuracy = float(np.mean(hits(val_labels, logits)))
        model = students.models[student.name]
        points.append(Budgeted(student, None, model, columns, model_size(model), accuracy, {}))
    return points


def main() -> None:
    args = arguments()
    params, seed, started = begin(args, uses_torch=False)
    config = load_section(params, "size_frontier", FrontierParams)
    student_params = load_section(params, "distill_students", StudentFitParams, only=True)
    dataset = load_section(params, "prepare", DatasetNameParams, only=True).dataset
    classes = load_section(params, "prepare", ClassesParams, only=True).names
    teacher_model = load_section(params, "finetune_teacher", TeacherNameParams, only=True).model
    logger.info("config: %s", config)

    students = load_students(args.students)
    transfer = read_transfer_set(
        args.train, args.unlabeled, args.augmented, student_params.unlabeled_limit, seed
    )
    validation = read_frame(args.validation)
    test = read_with_logits(*args.test)
    val_labels = validation["label"].to_numpy()
    val_features = students.features(frame_texts(validation))
    data = fit_data(
        transfer, students.features(transfer.texts), val_features, val_labels, student_params
    )
    fitted = fit_at_budgets(STUDENTS, data, config, student_params, seed, transfer.outputs)
    fitted += full_students(students, val_features, val_labels)
    order = {student.name: position for position, student in enumerate(STUDENTS)}
    fitted.sort(key=lambda point: (order[point.student.name], point.budget or np.inf))

    teacher, points = score(
        fitted,
        students.features(frame_texts(test)),
        test["label"].to_numpy(),
        frame_logits(test),
        students.target,
        students.temperature,
        config.bootstrap_resamples,
        seed,
    )
    write_json(args.metrics, frontier_metrics(teacher, points, len(test)))
    write_csv(f"{args.plots_dir}/linear.csv", pd.DataFrame(plot_rows(points, LINEAR_KINDS)))
    write_csv(f"{args.plots_dir}/tree.csv", pd.DataFrame(plot_rows(points, ("tree",))))
    distilled = [point for point in fitted if point.student.variant == "distilled"]
    shown_linear = [p for p in distilled if p.student.linear and p.budget in config.shown_weights]
    shown_linear.sort(key=lambda point: (point.budget, order[point.student.name]))
    shown_tree = next(
        (p for p in distilled if p.student.kind == "tree" and p.budget == config.shown_leaves),
        None,
    )
    run = FrontierRun(
        dataset=dataset,
        test_size=len(test),
        resamples=config.bootstrap_resamples,
        classes=classes,
        teacher_title=teacher_model_title(teacher_model),
        target=students.target,
        temperature=students.temperature,
        gold_alpha=student_params.gold_alpha,
    )
    terms = students.featurizer.get_feature_names_out()
    report = report_markdown(teacher, points, shown_linear, shown_tree, terms, run)
    write_text(args.report, report)
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
