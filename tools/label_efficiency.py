"""Collect finished DVC experiments into a label-efficiency table: test accuracy of the teacher
and the six students against the number of labelled reviews (`prepare.train_size`).

Run after a sweep, from the project root:

    dvc exp run --queue -S 'prepare.train_size=500,1000,2000,5000'
    dvc queue start -j 1          # wait for `dvc queue status` to show them done
    python tools/label_efficiency.py
    dvc plots show plots/label_efficiency.csv -x train_size -y lr_distilled

Writes plots/label_efficiency.csv (one row per run) and prints it.
"""

from __future__ import annotations

import argparse
import logging

from bertdistill.errors import UserError, run_cli
from bertdistill.experiments import EVALUATE_METRICS, exp_show, label_efficiency
from bertdistill.io import setup_logging, write_csv

logger = logging.getLogger("label_efficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="the DVC project whose experiments to read")
    parser.add_argument("--out", default="plots/label_efficiency.csv")
    args = parser.parse_args()
    setup_logging()
    table = label_efficiency(exp_show(args.repo))
    if table.empty:
        raise UserError(
            f"no finished run in {args.repo} has {EVALUATE_METRICS}: run `dvc repro` or a "
            f"sweep (`dvc exp run --queue -S prepare.train_size=...`) first"
        )
    write_csv(args.out, table)
    logger.info("wrote %s: %d runs", args.out, len(table))
    print(table.to_string(index=False, float_format="%.4f"))


if __name__ == "__main__":
    run_cli(main)
