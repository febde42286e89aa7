"""DVC stage `explain`: word attributions of the teacher (Integrated Gradients on all chosen test
reviews, occlusion and LIME on subsets of them) and of every student (exact; LIME on the LIME
subset), how faithful each is (ERASER), how alike each student explains and behaves to the
teacher, the students' global views, and one HTML report."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from tqdm.auto import tqdm

from bertdistill.attributions import student_attribution
from bertdistill.config import ExplainParams, InferenceParams, TeacherNameParams
from bertdistill.errors import run_cli
from bertdistill.explain import (
    choose_reviews,
    coefficient_table,
    explain_reviews,
    global_views,
    lime_attribution,
)
from bertdistill.explain_report import render, report_records
from bertdistill.explanation_metrics import (
    agreement,
    deletion_changes,
    faithfulness,
    fidelity,
    flat_metrics,
)
from bertdistill.inference import load_teacher
from bertdistill.io import atomic_path, write_csv, write_json
from bertdistill.params_file import load_section
from bertdistill.registry import STUDENT_NAMES, TEACHER, short_titles, teacher_model_title
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.student_files import load_students
from bertdistill.teacher_attribution import completeness_gap, integrated_gradients, occlusion

logger = logging.getLogger("explain")

TEACHER_METHOD = "integrated_gradients"  # the teacher's reference attribution (all reviews)
STUDENT_METHOD = "exact"


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", required=True, help="test split parquet")
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--students", required=True, help="folder of skops students")
    args_parser.add_argument("--out", required=True, help="folder for the report and its JSON")
    args_parser.add_argument("--metrics", required=True, help="explanation metrics JSON")
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
    texts = reviews["text"].tolist()
    teacher = load_teacher(args.teacher, precision=inference.precision)
    # Integrated Gradients needs gradients: an int8 teacher labels, an fp32 copy is explained.
    explained = teacher if inference.precision != "int8" else load_teacher(args.teacher)
    students = load_students(args.students)
    scorers = {TEACHER: lambda batch: teacher.logits(batch, inference, progress=False)}
    scorers |= {
        name: (lambda batch, n=name: students.logits(n, list(batch))) for name in STUDENT_NAMES
    }
    original = {name: np.asarray(score(texts)) for name, score in scorers.items()}

    attributions = {
        (TEACHER, TEACHER_METHOD): [
            integrated_gradients(explained, text, config.ig_steps, inference.batch_tokens)
            for text in tqdm(texts, desc="Integrated Gradients", unit="review")
        ],
        (TEACHER, "occlusion"): occlusion(
            teacher,
            texts[: config.occlusion_reviews],
            original[TEACHER][: config.occlusion_reviews],
            inference,
        ),
    }
    vocabulary = students.featurizer.get_feature_names_out()
    features = students.featurizer.transform(texts)
    for name in STUDENT_NAMES:
        model = students.models[name]
        attributions[(name, STUDENT_METHOD)] = [
            student_attribution(model, students.featurizer, vocabulary, text, features[position])
            for position, text in enumerate(texts)
        ]
    classifiers = {TEACHER: teacher.proba_function(inference)}
    classifiers |= {name: students.proba_function(name) for name in STUDENT_NAMES}
    lime_subset = reviews.iloc[: config.lime_reviews]
    lime_records = explain_reviews(lime_subset, classifiers, config.num_samples, seed)
    for name in classifiers:
        attributions[(name, "lime")] = [
            lime_attribution(record["models"][name]["words"], record["text"])
            for record in lime_records
        ]

    logger.info("ERASER: every model re-scored on its explainers' perturbed reviews")
    faithful = faithfulness(
        texts,
        scorers,
        original,
        attributions,
        config.bootstrap_resamples,
        config.min_interval_reviews,
        seed,
    )
    students_attributions = {name: attributions[(name, STUDENT_METHOD)] for name in STUDENT_NAMES}
    per_student, per_kind = agreement(
        students_attributions,
        attributions[(TEACHER, TEACHER_METHOD)],
        config.top_k,
        config.bootstrap_resamples,
        seed,
    )
    logger.info("deletion fidelity: %d random deletions per review", config.deletions)
    changes = deletion_changes(
        texts, scorers, original, config.deletions, config.deletion_share, seed
    )
    deletion, deletion_diff = fidelity(changes, TEACHER, config.bootstrap_resamples, seed)
    for name in STUDENT_NAMES:
        per_student[name]["deletion_fidelity"] = deletion[name]
    for kind, interval in deletion_diff.items():
        per_kind[kind]["deletion_fidelity"] = interval
    metrics = flat_metrics(faithful, per_student, per_kind)
    gaps = [completeness_gap(item) for item in attributions[(TEACHER, TEACHER_METHOD)]]
    metrics["teacher_integrated_gradients_mean_abs_gap"] = round(float(np.mean(np.abs(gaps))), 6)
    metrics["num_reviews"] = len(texts)

    views = global_views(students)
    settings = dataclasses.asdict(config) | {"seed": seed}
    titles = short_titles(teacher_model_title(teacher_name.model, dataclasses.asdict(teacher.spec)))
    shown = reviews.iloc[: max(config.occlusion_reviews, config.lime_reviews)]
    records = report_records(shown, original, attributions)
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        write_json(tmp / "explanations.json", records)
        write_json(tmp / "global.json", views)
        page = render(records, views, metrics, settings, titles)
        (tmp / "index.html").write_text(page, "utf-8")
    for name, words in views["linear"].items():
        write_csv(f"{args.plots_dir}/coefficients/{name}.csv", coefficient_table(words))
    write_json(args.metrics, metrics)
    logger.info("wrote %s/index.html: %d reviews shown of %d", args.out, len(records), len(texts))
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
