"""DVC stage `explain`: LIME for the teacher and every student on a few test reviews, global
views of the students, agreement with the teacher, and one HTML report."""

from __future__ import annotations

import dataclasses
import logging

from bertdistill.config import ExplainParams, InferenceParams, TeacherNameParams
from bertdistill.errors import run_cli
from bertdistill.explain import (
    agreement_metrics,
    choose_reviews,
    coefficient_table,
    explain_reviews,
    global_views,
)
from bertdistill.explain_report import render
from bertdistill.inference import load_teacher
from bertdistill.io import atomic_path, write_csv, write_json
from bertdistill.params_file import load_section
from bertdistill.registry import STUDENT_NAMES, TEACHER, short_titles, teacher_model_title
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.student_files import load_students

logger = logging.getLogger("explain")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", required=True, help="test split parquet")
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--students", required=True, help="folder of skops students")
    args_parser.add_argument("--out", required=True, help="folder for the report and its JSON")
    args_parser.add_argument("--metrics", required=True, help="agreement metrics JSON")
    args_parser.add_argument("--plots-dir", required=True, help="folder for coefficient CSVs")
    args_parser.add_argument("--timing", required=True, help="JSON file for wall time")
    args = args_parser.parse_args()
    params, seed, started = begin(args)
    config = load_section(params, "explain", ExplainParams)
    inference = load_section(params, "inference", InferenceParams)
    # Only the teacher's model name, for the report's titles: fine-tuning settings are not read.
    teacher_name = load_section(params, "finetune_teacher", TeacherNameParams, only=True)
    logger.info("config: %s", config)

    reviews = choose_reviews(read_frame(args.test), config.num_reviews, seed)
    teacher = load_teacher(args.teacher, precision=inference.precision)
    students = load_students(args.students)
    classifiers = {TEACHER: teacher.proba_function(inference)}
    classifiers |= {name: students.proba_function(name) for name in STUDENT_NAMES}

    records = explain_reviews(reviews, classifiers, config, seed)
    agreement = agreement_metrics(records, config.top_k)
    views = global_views(students)
    settings = {
        "num_samples": config.num_samples,
        "num_features": config.num_features,
        "top_k": config.top_k,
        "seed": seed,
    }
    titles = short_titles(teacher_model_title(teacher_name.model, dataclasses.asdict(teacher.spec)))
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_json(tmp / "explanations.json", records)
        write_json(tmp / "global.json", views)
        page = render(records, views, agreement, settings, titles)
        (tmp / "index.html").write_text(page, "utf-8")
    for name, words in views["linear"].items():
        write_csv(f"{args.plots_dir}/coefficients/{name}.csv", coefficient_table(words))
    write_json(args.metrics, agreement)
    logger.info(
        "wrote %s/index.html: %d reviews x %d models", args.out, len(records), len(classifiers)
    )
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
