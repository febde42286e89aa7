"""Benchmark: how long `predict` takes, from the shell, to classify one text with each model.

Each model's command runs `--repeats` times in alternating order; the median wall time is
reported beside the bare interpreter's start-up (`python -c pass`) measured the same way. Run
from the project root after `dvc repro` (needs models/):

    python bench/predict_startup.py

Writes bench/results/predict_startup.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TEXT = "A wonderful film, I laughed all the way through."


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["lr_distilled", "svm_distilled", "tree_distilled", "teacher"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results/predict_startup.json")
    args = parser.parse_args()
    script = "bertdistill-predict"
    predict = shutil.which(script) or str(Path(sys.executable).parent / script)
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands |= {model: [predict, "--model", model, TEXT] for model in args.models}
    for command in commands.values():  # warm the file cache
        timed(command)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            seconds[name].append(timed(command))
    rows = {
        name: {
            "median_seconds": round(statistics.median(values), 3),
            "runs": [round(value, 3) for value in values],
        }
        for name, values in seconds.items()
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"text": TEXT, "rows": rows}, indent=2) + "\n")
    print(f"{'command':<18} {'median s':>9}")
    for name, row in rows.items():
        print(f"{name:<18} {row['median_seconds']:>9.3f}")


if __name__ == "__main__":
    main()
