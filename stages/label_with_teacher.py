"""DVC stage `label_with_teacher`: the teacher's logits for every split, keyed by row id."""

from __future__ import annotations

import logging
import time

import pandas as pd

from bertdistill.config import InferenceParams, load_section
from bertdistill.errors import run_cli
from bertdistill.io import write_parquet
from bertdistill.stage import begin, parser, read_frame, write_timing
from bertdistill.teacher import load_teacher

logger = logging.getLogger("label_with_teacher")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument(
        "--split",
        nargs=2,
        action="append",
        required=True,
        metavar=("INPUT", "OUTPUT"),
        help="a split parquet to label and the logits parquet to write (repeatable)",
    )
    args_parser.add_argument("--timing", required=True, help="JSON file for wall time, throughput")
    args = args_parser.parse_args()
    params, _, started = begin(args)
    inference = load_section(params, "inference", InferenceParams)

    teacher = load_teacher(args.teacher)
    labelled, labelling_seconds = 0, 0.0
    for source, destination in args.split:
        frame = read_frame(source)
        split_started = time.perf_counter()
        logits = teacher.logits(frame["text"].tolist(), inference, description=source)
        labelling_seconds += time.perf_counter() - split_started
        labelled += len(frame)
        write_parquet(destination, pd.DataFrame({"id": frame["id"], "teacher_logit": logits}))
        logger.info("wrote %s: %d logits", destination, len(frame))
    write_timing(
        args.timing,
        started,
        texts=labelled,
        texts_per_second=round(labelled / max(labelling_seconds, 1e-9), 2),
    )


if __name__ == "__main__":
    run_cli(main)
