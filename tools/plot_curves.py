"""Draw the committed curves as the figures of docs/results.md: test accuracy with 95% intervals
of the teacher and the six students against the labelled reviews (plots/label_efficiency.csv)
and against the unlabelled reviews the students learnt from (plots/unlabeled_pool.csv).

    python tools/plot_curves.py          # -> plots/label_efficiency.svg, plots/unlabeled_pool.svg

`dvc plots show` draws the same data interactively (dvc.yaml's top-level plots).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib
import pandas as pd

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import atomic_path
from bertdistill.core.registry import STUDENTS, TEACHER
from bertdistill.core.runtime import setup_logging
from bertdistill.evaluation.curves import CURVES

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

logger = logging.getLogger("plot_curves")
COLOURS = {"lr": "tab:blue", "svm": "tab:orange", "tree": "tab:green"}


def draw(table: pd.DataFrame, x: str, x_label: str, out: Path) -> None:
    """Every model's accuracy against ``x`` with its interval as error bars, as an SVG that the
    same table always turns into the same bytes."""
    with plt.rc_context({"svg.hashsalt": "bertdistill"}):
        figure = _figure(table, x, x_label)
        with atomic_path(out) as tmp:
            figure.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(figure)


def _figure(table: pd.DataFrame, x: str, x_label: str):
    figure, axes = plt.subplots(figsize=(7, 4.5))
    series = [(TEACHER, "teacher", "black", "-")] + [
        (s.name, s.title, COLOURS[s.kind], "-" if s.variant == "distilled" else "--")
        for s in STUDENTS
    ]
    for name, title, colour, style in series:
        errors = [table[name] - table[f"{name}_ci_low"], table[f"{name}_ci_high"] - table[name]]
        axes.errorbar(
            table[x], table[name], yerr=errors, label=title, color=colour, linestyle=style,
            marker="o", markersize=3, capsize=3, linewidth=1.2,
        )  # fmt: skip
    if table[x].min() > 0:
        axes.set_xscale("log")
    axes.set_xticks(table[x], [f"{value:,}" for value in table[x]])
    axes.minorticks_off()
    axes.set_xlabel(x_label)
    sizes = sorted(set(table["test_size"]))
    axes.set_ylabel(f"test accuracy ({'/'.join(f'{n:,}' for n in sizes)} reviews, 95% interval)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    setup_logging()
    drawn = 0
    for spec in CURVES.values():
        csv = Path(spec.csv)
        if not csv.is_file():
            logger.info("%s not found: skipped", csv)
            continue
        draw(pd.read_csv(csv), spec.x, spec.label, csv.with_suffix(".svg"))
        logger.info("wrote %s", csv.with_suffix(".svg"))
        drawn += 1
    if not drawn:
        files = ", ".join(spec.csv for spec in CURVES.values())
        raise UserError(f"none of {files} exists: run tools/label_efficiency.py")


if __name__ == "__main__":
    run_cli(main)
