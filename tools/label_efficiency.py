"""Collect finished DVC experiments into a curve: test accuracy (with 95% intervals) of the
teacher and the six students against the number of labelled reviews (`prepare.train_size`), or,
with `--by unlabeled_size`, against the unlabelled reviews the students learnt from.

Run after a sweep, from the project root:

    dvc exp run --queue -S 'prepare.train_size=500,1000,2000,5000'
    dvc queue start -j 1          # wait for `dvc queue status` to show them done
    python tools/label_efficiency.py --merge
    dvc plots show                # the "Label efficiency" chart

    # one labelling pass over the whole unlabelled pool, students on nested subsets of it
    dvc exp run -S prepare.unlabeled_size=null
    dvc exp run --queue -S 'distill_students.unlabeled_limit=0,5000,10000,20000'
    python tools/label_efficiency.py --by unlabeled_size --merge

Writes plots/label_efficiency.csv (plots/unlabeled_pool.csv with `--by unlabeled_size`): one row
per run with its setting, experiment and commit. A curve keeps runs whose params differ in its
swept key only: those of the setting with the most points, or of the run `--reference` names.
`--merge` keeps the file's rows at other x values (of the same setting), so rows from several
machines and sessions add up. The working tree's row counts only when `dvc status` finds it up to
date: while an experiment runs there, it pairs the new params with the last run's metrics.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import write_csv
from bertdistill.core.runtime import setup_logging
from bertdistill.evaluation.curves import CURVES, curve, merge, steps
from bertdistill.evaluation.experiments import finished_runs, run_hits

logger = logging.getLogger("label_efficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="the DVC project whose experiments to read")
    parser.add_argument("--by", choices=CURVES, default="train_size", help="the curve's x axis")
    parser.add_argument("--out", help="CSV to write (default: by --by, under plots/)")
    parser.add_argument("--merge", action="store_true", help="keep --out's rows at other x")
    parser.add_argument("--reference", help="experiment name or commit whose setting to keep")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="also write each model's change from one point to the next with its paired 95%% "
        "interval (from the runs' per-text confusion rows) to <out>_steps.csv",
    )
    parser.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args()
    setup_logging()
    out = Path(args.out or CURVES[args.by].csv)
    table = curve(finished_runs(args.repo), x=args.by, reference=args.reference)
    if table.empty:
        raise UserError(
            f"no finished run in {args.repo} has metrics/evaluate.json with intervals and "
            f"metrics/students.json: run `dvc repro` or a sweep (`dvc exp run --queue -S "
            f"prepare.train_size=...`) first"
        )
    if args.merge and out.is_file():
        existing = pd.read_csv(out, dtype={"setting": str, "commit": str})
        table = merge(existing, table, args.by, str(out))
    write_csv(out, table)
    logger.info("wrote %s: %d runs", out, len(table))
    print(table.to_string(index=False, float_format="%.4f"))
    if args.steps:
        changes = steps(
            table,
            lambda rev, model: run_hits(args.repo, rev, model),
            args.by,
            args.resamples,
            args.seed,
        )
        steps_out = out.with_name(f"{out.stem}_steps.csv")
        write_csv(steps_out, changes)
        logger.info("wrote %s", steps_out)
        print(changes.to_string(index=False, float_format="%+.4f"))


if __name__ == "__main__":
    run_cli(main)
