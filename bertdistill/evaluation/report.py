"""The evaluate stage's Markdown report: every model's test scores with intervals, each distilled
student against its gold-label twin and every student against the teacher, the paper's figures
beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.registry import (
    KIND_TITLES,
    KINDS,
    PAPER_TABLE,
    STUDENTS,
    TEACHER,
    paper_applies,
)
from bertdistill.evaluation.statistics import Comparison, Interval

PAPER_ROUNDING = 0.005  # the paper's figures are given to 2 decimals


@dataclass(frozen=True)
class ReportRun:
    """What the report says about the run: its data, its teacher, its bootstrap and seeds."""

    test_size: int
    dataset: str
    teacher_title: str
    resamples: int
    seeds: int
    classes: tuple[str, ...] = SENTIMENT_CLASSES
    refitted: tuple[str, ...] = ()  # the students re-fitted per seed; the others are deterministic


def report_markdown(
    per_model: dict[str, dict[str, float]],
    accuracy: dict[str, Interval],
    comparisons: Sequence[Comparison],
    run: ReportRun,
) -> str:
    """Every model's test scores with intervals, each distilled student against its gold-label
    twin and each student against the teacher (paired intervals, ties worded as ties), the
    students' spread over seeds, and the paper's Table 1 beside them when the run is on the
    paper's dataset (IMDB)."""
    paper = paper_applies(run.dataset)
    intro = (
        f"Test accuracy on {run.test_size:,} {run.dataset} test texts. Brackets: 95% intervals "
        f"from {run.resamples:,} bootstrap resamples of those texts, paired where two models are "
        "compared; p: McNemar's exact test. A difference whose interval spans zero is a tie. "
        "The intervals cover the sampling of test texts only, not the seeds of the teacher or "
        f"the splits; each of the {len(comparisons)} comparisons is at 95% on its own (no "
        "correction for making several)."
    )
    if paper:
        intro += (
            " Paper: Sridhar et al. 2020, Table 1 (BERT-base teacher; students on gold labels vs "
            "distilled from the teacher's logits; no intervals given, so a figure counts as "
            "+-0.005, its rounding)."
        )
    titles = {TEACHER: run.teacher_title} | {s.name: s.title for s in STUDENTS}
    scores = _score_rows(per_model, accuracy, titles, paper, several=len(run.classes) > 2)
    by_pair = {(c.model, c.reference): c for c in comparisons}
    gains, versus_teacher = _gain_rows(by_pair, paper), _versus_teacher_rows(by_pair)
    lines = ["# Results: paper vs this pipeline" if paper else "# Results", "", intro, ""]
    lines += _table(scores)
    if len(run.classes) > 2:
        lines += ["", "## Accuracy per class", ""] + _class_lines(per_model, titles, run.classes)
    lines += ["", "## Distilled vs gold labels", ""] + _table(gains)
    lines += ["", "## Students vs the teacher", ""] + _table(versus_teacher)
    lines += ["", "## Students over seeds", ""] + _seed_lines(per_model, run.seeds, run.refitted)
    lines += ["", f"Teacher test accuracy: {accuracy[TEACHER].plain()}.", ""]
    return "\n".join(lines)


def _score_rows(
    per_model: dict[str, dict[str, float]],
    accuracy: dict[str, Interval],
    titles: dict[str, str],
    paper: bool,
    several: bool,
) -> list[list[str]]:
    """The scores table: every model's accuracy with its interval (and the paper's figure),
    F1 (macro-F1 with K classes), ROC-AUC, agreement with the teacher and size."""
    scores = [["model", *(["paper"] if paper else []), "ours [95% interval]"]]
    f1_key, f1_title = ("macro_f1", "macro-F1") if several else ("f1", "F1")
    scores[0] += [*(["ours vs paper"] if paper else []), f1_title, "ROC-AUC"]
    scores[0] += ["agreement with teacher"]
    scores[0] += ["size (bytes)"]
    for name, title in titles.items():
        values, ours = per_model[name], accuracy[name]
        versus = []
        if paper:
            versus = [_versus_figure(ours, PAPER_TABLE[name])]
        agreement = "-" if name == TEACHER else f"{values['agreement']:.4f}"
        scores.append(
            [title, *([f"{PAPER_TABLE[name]:.2f}"] if paper else []), ours.plain(), *versus]
            + [f"{values[key]:.4f}" for key in (f1_key, "roc_auc")]
            + [agreement, f"{int(values['size_bytes']):,}"]
        )
    return scores


def _gain_rows(by_pair: dict[tuple[str, str], Comparison], paper: bool) -> list[list[str]]:
    """Each distilled student minus its gold-label twin (and the paper's difference)."""
    gains = [["student", *(["paper: distilled - gold"] if paper else [])]]
    gains[0] += ["ours: distilled - gold [95%]", "McNemar p", "verdict"]
    for kind in KINDS:
        distilled, baseline = f"{kind}_distilled", f"{kind}_baseline"
        compared = by_pair[(distilled, baseline)]
        paper_gain = [f"{PAPER_TABLE[distilled] - PAPER_TABLE[baseline]:+.3f}"] if paper else []
        verdict = ("gold labels better", "tie", "distilled better")[compared.difference.sign + 1]
        gains.append(
            [KIND_TITLES[kind], *paper_gain, compared.difference.signed()]
            + [_p_value(compared.mcnemar_p), verdict]
        )
    return gains


def _versus_teacher_rows(by_pair: dict[tuple[str, str], Comparison]) -> list[list[str]]:
    """Each student minus the teacher."""
    versus_teacher = [["student", "student - teacher [95%]", "McNemar p", "verdict"]]
    for student in STUDENTS:
        compared = by_pair[(student.name, TEACHER)]
        verdict = ("teacher better", "tie", "student better")[compared.difference.sign + 1]
        versus_teacher.append(
            [student.title, compared.difference.signed(), _p_value(compared.mcnemar_p), verdict]
        )
    return versus_teacher


def _class_lines(
    per_model: dict[str, dict[str, float]], titles: dict[str, str], classes: Sequence[str]
) -> list[str]:
    rows = [["model", *classes]]
    for name, title in titles.items():
        rows.append([title, *(f"{per_model[name][f'accuracy_{c}']:.4f}" for c in classes)])
    intro = "The share of each class's test texts that a model classifies right (its recall)."
    return [intro, ""] + _table(rows)


def _versus_figure(ours: Interval, figure: float) -> str:
    """Ours against a published figure given to 2 decimals: above or below when our interval
    clears the figure's rounding range, a tie otherwise."""
    if ours.low > figure + PAPER_ROUNDING:
        return "above"
    return "below" if ours.high < figure - PAPER_ROUNDING else "tie"


def _p_value(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _seed_lines(
    per_model: dict[str, dict[str, float]], seeds: int, refitted: Sequence[str]
) -> list[str]:
    if seeds < 2:
        return ["One seed (`distill_students.seeds: 1`): no spread measured."]
    rows = [["student", f"mean accuracy over {seeds} seeds", "standard deviation", "min - max"]]
    for student in STUDENTS:
        values = per_model[student.name]
        deterministic = student.name not in refitted
        rows.append(
            [
                student.title,
                f"{values['seeds_accuracy_mean']:.4f}",
                "0 by construction" if deterministic else f"{values['seeds_accuracy_std']:.4f}",
                f"{values['seeds_accuracy_min']:.4f} - {values['seeds_accuracy_max']:.4f}",
            ]
        )
    intro = (
        f"Each student whose fit draws random numbers re-fitted with {seeds} seeds (`seed` .. "
        f"`seed` + {seeds - 1}) at its chosen hyperparameters, on the same data: the spread is "
        "the students' own randomness (tree tie-breaking, the SVMs' coordinate order). A "
        "deterministic fit (its solver ignores the seed) is fitted once: every seed would give "
        "the same bytes, so its spread is zero by construction."
    )
    return [intro, ""] + _table(rows)


def _table(rows: list[list[str]]) -> list[str]:
    """Markdown rows: the first column left-aligned, numbers right-aligned."""
    rule = "|---|" + "---:|" * (len(rows[0]) - 1)
    return ["| " + " | ".join(rows[0]) + " |", rule] + [
        "| " + " | ".join(r) + " |" for r in rows[1:]
    ]
