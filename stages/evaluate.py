"""DVC stage `evaluate`: teacher and students on the test set; metrics, report, plots, speed."""

from __future__ import annotations

import logging
from pathlib import Path

from bertdistill.config import EvaluateParams, InferenceParams, load_section
from bertdistill.errors import run_cli
from bertdistill.evaluation import (
    confusion_rows,
    flatten,
    report_markdown,
    roc_points,
    score,
    throughput,
)
from bertdistill.inference import load_teacher
from bertdistill.io import write_csv, write_json, write_text
from bertdistill.registry import model_names
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.student_files import FEATURIZER_FILE, VOCABULARY_FILE, load_students
from bertdistill.teacher_model import WEIGHTS_FILE

logger = logging.getLogger("evaluate")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--students", required=True, help="folder of skops students")
    args_parser.add_argument("--metrics", required=True, help="quality metrics JSON")
    args_parser.add_argument("--report", required=True, help="markdown report")
    args_parser.add_argument("--plots-dir", required=True, help="folder for ROC/confusion CSVs")
    args_parser.add_argument("--timing", required=True, help="JSON for throughput and wall time")
    args = args_parser.parse_args()
    params, _, started = begin(args)
    config = load_section(params, "evaluate", EvaluateParams)
    inference = load_section(params, "inference", InferenceParams)

    test = read_frame(args.test[0])
    teacher_logits = read_frame(args.test[1], columns=("id", "teacher_logit"))
    test = test.merge(teacher_logits, on="id", validate="one_to_one")
    texts, labels = test["text"].tolist(), test["label"].to_numpy()
    teacher_test_logits = test["teacher_logit"].to_numpy()
    students = load_students(args.students)
    features = students.featurizer.transform(texts)

    logits = {"teacher": teacher_test_logits}
    logits |= {name: students.logits(name, features=features) for name in model_names()}
    sizes = {"teacher": (Path(args.teacher) / WEIGHTS_FILE).stat().st_size}
    sizes |= {
        name: (Path(args.students) / f"{name}.skops").stat().st_size for name in model_names()
    }
    per_model = {}
    for name, model_logits in logits.items():
        per_model[name] = score(labels, model_logits, teacher_test_logits)
        per_model[name]["size_bytes"] = sizes[name]
        write_csv(f"{args.plots_dir}/roc/{name}.csv", roc_points(labels, model_logits))
        write_csv(f"{args.plots_dir}/confusion/{name}.csv", confusion_rows(labels, model_logits))
        logger.info("%s: %s", name, per_model[name])
    metrics = flatten(per_model)
    metrics["featurizer_size_bytes"] = sum(
        (Path(args.students) / name).stat().st_size for name in (FEATURIZER_FILE, VOCABULARY_FILE)
    )
    metrics["test_size"] = len(test)
    write_json(args.metrics, metrics)
    write_text(args.report, report_markdown(per_model, len(test)))

    sample = texts[: config.throughput_texts]
    teacher = load_teacher(args.teacher, precision=inference.precision)
    rates = {
        "teacher": throughput(  # the only slow one: a progress bar per timed pass
            lambda batch: teacher.logits(batch, inference, description="timing the teacher"),
            sample,
            config.throughput_repeats,
        )
    }
    for name in model_names():
        rates[name] = throughput(
            lambda batch, name=name: students.logits(name, batch), sample, config.throughput_repeats
        )
    logger.info("texts/s: %s", {name: round(rate, 1) for name, rate in rates.items()})
    write_timing(
        args.timing,
        started,
        throughput_texts=len(sample),
        **{f"{name}_texts_per_second": round(rate, 2) for name, rate in rates.items()},
    )


if __name__ == "__main__":
    run_cli(main)
