"""DVC stage `explain`: every student's word attributions (exact on all the reviews the teacher
explained, LIME on the LIME subset), how faithful every model's explainers are (ERASER), how
alike each student explains and behaves to the teacher, the students' global views, and one HTML
report. The teacher's side comes from `explain_teacher`'s outputs, never recomputed here."""

from __future__ import annotations

import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.files import atomic_folder, write_csv, write_json, write_json_folder
from bertdistill.core.params import (
    ClassesParams,
    ExplainMeasureParams,
    ExplainParams,
    TeacherNameParams,
    enough_reviews,
)
from bertdistill.core.params_file import load_section
from bertdistill.core.registry import short_titles, teacher_model_title
from bertdistill.core.stage import begin, parser, write_timing
from bertdistill.core.tables import PAIR
from bertdistill.explain.global_views import PER_CLASS, coefficient_table, global_views
from bertdistill.explain.measures import headline
from bertdistill.explain.report import render
from bertdistill.explain.shown_reviews import report_records
from bertdistill.explain.student_run import explain_models
from bertdistill.explain.teacher_outputs import read_teacher_explanations
from bertdistill.students.files import load_students

logger = logging.getLogger("explain")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument(
        "--teacher-explanations", required=True, help="explain_teacher's output folder"
    )
    args_parser.add_argument(
        "--students", nargs="+", required=True, help="folders of skops students"
    )
    args_parser.add_argument("--out", required=True, help="folder for the report and its JSON")
    args_parser.add_argument("--metrics", required=True, help="every explanation metric, JSON")
    args_parser.add_argument(
        "--overlap", required=True, help="folder of the headline overlap metrics, a JSON per kind"
    )
    args_parser.add_argument(
        "--fidelity", required=True, help="folder of the headline fidelity metrics, a JSON per kind"
    )
    args_parser.add_argument("--plots-dir", required=True, help="folder for coefficient CSVs")
    args = args_parser.parse_args()
    params, seed, started = begin(args, uses_torch=False)
    config = load_section(params, "explain", ExplainMeasureParams, only=True, section=ExplainParams)
    # Only the teacher's model name, for the report's titles: fine-tuning settings are not read.
    teacher_name = load_section(params, "finetune_teacher", TeacherNameParams, only=True)
    classes = load_section(params, "prepare", ClassesParams, only=True).names
    logger.info("config: %s", config)

    teacher = read_teacher_explanations(args.teacher_explanations)
    enough_reviews(len(teacher.reviews), config.min_interval_reviews, args.teacher_explanations)
    students = load_students(args.students)
    result = explain_models(teacher, students, config, seed)

    views = global_views(students, classes=classes)
    settings = teacher.settings | config.model_dump() | {"seed": seed}
    reviews = teacher.reviews
    titles = short_titles(
        teacher_model_title(teacher_name.model, teacher.spec, PAIR in reviews.columns)
    )
    shown = reviews.iloc[: max(settings["occlusion_reviews"], settings["lime_reviews"])]
    records = report_records(shown, result.original, result.attributions, classes, result.targets)
    with atomic_folder(args.out) as tmp:
        write_json(tmp / "explanations.json", records)
        write_json(tmp / "global.json", views)
        page = render(records, views, result.metrics, settings, titles)
        (tmp / "index.html").write_text(page, "utf-8")
    for name, words in views["linear"].items():
        table = coefficient_table(words, views.get(PER_CLASS, False))
        write_csv(f"{args.plots_dir}/coefficients/{name}.csv", table)
    write_json(args.metrics, result.metrics)
    for name, rows in headline(result.metrics, config.top_k).items():
        write_json_folder(getattr(args, name), rows)
    logger.info("wrote %s/index.html: %d reviews shown of %d", args.out, len(records), len(reviews))
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
