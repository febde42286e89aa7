"""Compare two runs of the pipeline on the same test texts: each model's test accuracy and
agreement with its run's teacher, after minus before, with paired 95% bootstrap intervals (a
difference whose interval spans zero is a tie). `dvc metrics diff` shows the change of each
figure; this says whether it is more than the test sample's noise.

A run is a git revision of a repository (its committed `plots/evaluate/confusion/` files) or
`workspace` (the working tree's). From the project root:

    python tools/compare_runs.py --before HEAD~1 --after workspace
    python tools/compare_runs.py --before main --before-repo ../other-clone --after workspace

Prints a table; `--out` also writes it as JSON. Both runs must have scored the same test texts
in the same order (the same `prepare` settings and data).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import write_json
from bertdistill.core.registry import MODEL_NAMES, TEACHER
from bertdistill.core.runtime import setup_logging
from bertdistill.evaluation.experiments import run_predictions
from bertdistill.evaluation.statistics import mean_intervals, paired_difference

logger = logging.getLogger("compare_runs")


def compare(before: tuple[str, str], after: tuple[str, str], resamples: int, seed: int) -> dict:
    """model -> accuracy and agreement of each run, and after minus before with intervals."""
    rows = {}
    runs = {"before": before, "after": after}
    teachers = {
        side: run_predictions(*run, TEACHER)["predicted"].to_numpy() for side, run in runs.items()
    }
    for model in MODEL_NAMES:
        shown = {side: run_predictions(*run, model) for side, run in runs.items()}
        if len(shown["after"]) != len(shown["before"]):
            raise UserError(
                f"the runs scored {len(shown['before'])} and {len(shown['after'])} test texts: "
                f"compare runs of the same test split"
            )
        hits = {
            side: (rows_["actual"] == rows_["predicted"]).to_numpy()
            for side, rows_ in shown.items()
        }
        agrees = {
            f"{side}_agreement": rows_["predicted"].to_numpy() == teachers[side]
            for side, rows_ in shown.items()
        }
        means, samples = mean_intervals(hits | agrees, resamples, seed)
        accuracy = paired_difference(means, samples, "after", "before")
        agreement = paired_difference(means, samples, "after_agreement", "before_agreement")
        rows[model] = {
            "before_accuracy": round(means["before"].estimate, 4),
            "after_accuracy": round(means["after"].estimate, 4),
            "accuracy_difference": round(accuracy.estimate, 4),
            "accuracy_difference_ci": [round(accuracy.low, 4), round(accuracy.high, 4)],
            "accuracy_tie": bool(accuracy.low <= 0 <= accuracy.high),
            "before_agreement": round(float(np.mean(agrees["before_agreement"])), 4),
            "after_agreement": round(float(np.mean(agrees["after_agreement"])), 4),
            "agreement_difference": round(agreement.estimate, 4),
            "agreement_difference_ci": [round(agreement.low, 4), round(agreement.high, 4)],
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision, or `workspace`")
    parser.add_argument("--after", required=True, help="git revision, or `workspace`")
    parser.add_argument("--before-repo", default=".", help="repository of --before")
    parser.add_argument("--after-repo", default=".", help="repository of --after")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="JSON file for the table")
    args = parser.parse_args()
    setup_logging()
    rows = compare(
        (args.before_repo, args.before), (args.after_repo, args.after), args.resamples, args.seed
    )
    print(f"{'model':<16} {'before':>7} {'after':>7} {'after - before [95% CI]':>30}  agreement")
    for model, row in rows.items():
        low, high = row["accuracy_difference_ci"]
        interval = f"{row['accuracy_difference']:+.4f} [{low:+.4f}, {high:+.4f}]"
        verdict = "tie" if row["accuracy_tie"] else ("higher" if low > 0 else "lower")
        agreement = f"{row['before_agreement']:.4f} -> {row['after_agreement']:.4f}"
        print(
            f"{model:<16} {row['before_accuracy']:>7.4f} {row['after_accuracy']:>7.4f} "
            f"{interval:>30} {verdict:<6} {agreement}"
        )
    if args.out:
        write_json(
            args.out,
            {
                "before": f"{args.before_repo}@{args.before}",
                "after": f"{args.after_repo}@{args.after}",
                "resamples": args.resamples,
                "models": rows,
            },
        )


if __name__ == "__main__":
    run_cli(main)
