"""DVC stage `label_with_teacher`: the teacher's logits for every split, keyed by row id.

Runs in one process, or data-parallel under `torchrun --nproc_per_node N` / `accelerate launch`:
each worker labels a shard, the logits are gathered in input order and worker 0 writes them.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from bertdistill.config import InferenceParams, load_section
from bertdistill.distributed import finish, init_workers
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

    workers = init_workers()
    teacher = load_teacher(args.teacher, workers.device(), inference.precision)
    labelled, labelling_seconds = 0, 0.0
    for source, destination in args.split:
        frame = read_frame(source)
        split_started = time.perf_counter()
        logits = teacher.logits(
            frame["text"].tolist(), inference, description=source, workers=workers
        )
        labelling_seconds += time.perf_counter() - split_started
        labelled += len(frame)
        if workers.is_main:
            write_parquet(destination, pd.DataFrame({"id": frame["id"], "teacher_logit": logits}))
            logger.info("wrote %s: %d logits", destination, len(frame))
    if workers.is_main:
        write_timing(
            args.timing,
            started,
            texts=labelled,
            texts_per_second=round(labelled / max(labelling_seconds, 1e-9), 2),
            workers=workers.world_size,
            precision=inference.precision,
        )
    finish(workers)


if __name__ == "__main__":
    run_cli(main)
