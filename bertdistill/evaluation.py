"""Scores with their 95% intervals, plots data, throughput and the paper-versus-ours report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score, roc_curve

from bertdistill.config import SENTIMENT_CLASSES
from bertdistill.registry import (
    KIND_TITLES,
    KINDS,
    PAPER_TABLE,
    STUDENT_NAMES,
    STUDENTS,
    TEACHER,
    paper_applies,
)
from bertdistill.scoring import predicted_classes, softmax

LEVEL = 0.95  # every interval this module gives is a 95% interval
DIGITS = 6  # metrics keep interval ends to 6 decimals: an accuracy on <= 10**6 texts is exact
SHOWN = 3  # the report shows differences to 3 decimals, and words them by what it shows
PAPER_ROUNDING = 0.005  # the paper's figures are given to 2 decimals
INTERVAL_SUFFIXES = ("", "_ci_low", "_ci_high")  # an estimate's metrics key, its interval's ends'


def hits(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Which texts a model classifies right."""
    return predicted_classes(logits) == labels


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% interval."""

    estimate: float
    low: float
    high: float

    @classmethod
    def percentile(cls, estimate: float, samples: np.ndarray) -> Interval:
        """The percentile interval of bootstrap ``samples`` around ``estimate``."""
        tail = (1 - LEVEL) / 2 * 100
        low, high = np.percentile(samples, [tail, 100 - tail])
        return cls(*(round(float(value), DIGITS) for value in (estimate, low, high)))

    @property
    def sign(self) -> int:
        """+1 when the interval, as the report shows it, lies above zero, -1 when below, 0 (a
        tie) otherwise: an end that shows as 0.000 is a tie, whatever its later digits."""
        low, high = round(self.low, SHOWN), round(self.high, SHOWN)
        return 1 if low > 0 else -1 if high < 0 else 0

    def signed(self) -> str:
        """A difference: ``+0.024 [+0.019, +0.029]``."""
        return f"{self.estimate:+.{SHOWN}f} [{self.low:+.{SHOWN}f}, {self.high:+.{SHOWN}f}]"

    def plain(self) -> str:
        """An accuracy: ``0.8900 [0.8812, 0.8986]``."""
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def keyed(self, name: str) -> dict[str, float]:
        """Metrics keys: ``name`` for the estimate, ``name_ci_low`` and ``name_ci_high``."""
        values = (self.estimate, self.low, self.high)
        return {
            f"{name}{suffix}": value
            for suffix, value in zip(INTERVAL_SUFFIXES, values, strict=True)
        }


@dataclass(frozen=True)
class Comparison:
    """``model`` against ``reference`` on the same texts: the paired interval of the accuracy
    difference and McNemar's exact p-value."""

    model: str
    reference: str
    difference: Interval
    mcnemar_p: float

    @property
    def key(self) -> str:
        return comparison_key(self.model, self.reference)

    def metrics(self) -> dict[str, float]:
        difference = self.difference.keyed(difference_key(self.model, self.reference))
        return difference | {f"{self.key}_mcnemar_p": self.mcnemar_p}


def comparison_key(model: str, reference: str) -> str:
    return f"{model}_vs_{reference}"


def difference_key(model: str, reference: str) -> str:
    """The metrics key of ``model``'s accuracy minus ``reference``'s."""
    return f"{comparison_key(model, reference)}_accuracy_diff"


def twins() -> dict[str, tuple[str, str]]:
    """Each student kind's distilled model and its gold-label twin."""
    return {kind: (f"{kind}_distilled", f"{kind}_baseline") for kind in KINDS}


def compared_pairs() -> list[tuple[str, str]]:
    """The comparisons the report makes: each distilled student against its gold-label twin,
    then each student against the teacher."""
    return [*twins().values(), *((name, TEACHER) for name in STUDENT_NAMES)]


def bootstrap_means(
    values: dict[str, np.ndarray], resamples: int, seed: int, chunk: int = 250
) -> dict[str, np.ndarray]:
    """Each series' mean on ``resamples`` bootstrap resamples of its items (a model's accuracy
    from its per-text hits, a measure's mean over reviews). Every series is resampled alike,
    so differences between them are paired."""
    names = list(values)
    stacked = np.stack([np.asarray(values[name], dtype=np.float64) for name in names])
    count = stacked.shape[1]
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, resamples, chunk):
        rows = rng.integers(0, count, size=(min(chunk, resamples - start), count))
        parts.append(stacked[:, rows].mean(axis=2))
    means = np.concatenate(parts, axis=1)
    return {name: means[i] for i, name in enumerate(names)}


def mean_intervals(
    values: dict[str, np.ndarray], resamples: int, seed: int
) -> tuple[dict[str, Interval], dict[str, np.ndarray]]:
    """Each series' mean over reviews with its bootstrap interval, and the bootstrap means
    (every series resampled alike, for paired differences)."""
    samples = bootstrap_means(values, resamples, seed)
    means = {
        name: Interval.percentile(float(np.mean(series)), samples[name])
        for name, series in values.items()
    }
    return means, samples


def paired_difference(
    estimates: dict[str, Interval], samples: dict[str, np.ndarray], model: str, reference: str
) -> Interval:
    """``model``'s estimate minus ``reference``'s (a mean, a correlation), with the paired
    bootstrap interval from their values on the same resamples."""
    return Interval.percentile(
        estimates[model].estimate - estimates[reference].estimate,
        samples[model] - samples[reference],
    )


def mcnemar_exact(correct: np.ndarray, reference_correct: np.ndarray) -> float:
    """McNemar's exact test: a two-sided binomial test on the texts the two models disagree on."""
    only_model = int(np.sum(correct & ~reference_correct))
    only_reference = int(np.sum(~correct & reference_correct))
    if only_model + only_reference == 0:
        return 1.0
    return float(binomtest(only_model, only_model + only_reference, 0.5).pvalue)


def with_intervals(
    labels: np.ndarray, logits: dict[str, np.ndarray], resamples: int, seed: int
) -> tuple[dict[str, Interval], list[Comparison]]:
    """Each model's accuracy with its bootstrap interval, and the report's comparisons."""
    correct = {name: hits(labels, values) for name, values in logits.items()}
    accuracy, samples = mean_intervals(correct, resamples, seed)
    comparisons = [
        Comparison(
            model,
            reference,
            paired_difference(accuracy, samples, model, reference),
            mcnemar_exact(correct[model], correct[reference]),
        )
        for model, reference in compared_pairs()
    ]
    return accuracy, comparisons


def seed_spread(labels: np.ndarray, logits_per_seed: Sequence[np.ndarray]) -> dict[str, float]:
    """Test accuracy over a student's seeds: mean, standard deviation (n - 1), min and max; none
    for one seed (nothing was measured, which a standard deviation of 0 would hide)."""
    if len(logits_per_seed) < 2:
        return {}
    accuracies = np.array([np.mean(hits(labels, values)) for values in logits_per_seed])
    return {
        "seeds_accuracy_mean": round(float(accuracies.mean()), DIGITS),
        "seeds_accuracy_std": round(float(accuracies.std(ddof=1)), DIGITS),
        "seeds_accuracy_min": float(accuracies.min()),
        "seeds_accuracy_max": float(accuracies.max()),
    }


def score(
    labels: np.ndarray,
    logits: np.ndarray,
    teacher_logits: np.ndarray,
    classes: Sequence[str] = SENTIMENT_CLASSES,
) -> dict[str, float]:
    """Accuracy, F1 and ROC-AUC against gold labels, and agreement with the teacher's labels.
    With K > 2 ``classes`` (one logit column each): macro-F1, one-vs-rest ROC-AUC (macro) and
    each class's accuracy (``accuracy_<class>``: the share of its texts classified right)."""
    predicted = predicted_classes(logits)
    found = {"accuracy": float(accuracy_score(labels, predicted))}
    if np.ndim(logits) == 1:
        found["f1"] = float(f1_score(labels, predicted))
        found["roc_auc"] = float(roc_auc_score(labels, logits))
    else:
        ids = list(range(len(classes)))
        found["macro_f1"] = float(f1_score(labels, predicted, labels=ids, average="macro"))
        found["roc_auc"] = float(
            roc_auc_score(labels, softmax(logits), multi_class="ovr", labels=ids)
        )
        for index, name in enumerate(classes):
            found[f"accuracy_{name}"] = float(np.mean(predicted[labels == index] == index))
    found["agreement"] = float(np.mean(predicted == predicted_classes(teacher_logits)))
    return found


def roc_points(labels: np.ndarray, logits: np.ndarray) -> pd.DataFrame:
    """The ROC curve's points; with K classes, the micro-average over one-vs-rest decisions."""
    if np.ndim(logits) == 2:
        one_hot = np.eye(np.shape(logits)[1], dtype=int)[labels]
        labels, logits = one_hot.ravel(), softmax(logits).ravel()
    fpr, tpr, _ = roc_curve(labels, logits, drop_intermediate=True)
    return pd.DataFrame({"fpr": fpr.round(5), "tpr": tpr.round(5)})


def confusion_rows(
    labels: np.ndarray, logits: np.ndarray, classes: Sequence[str] = SENTIMENT_CLASSES
) -> pd.DataFrame:
    """One row per text with class names, the long format DVC's confusion template reads."""
    names = np.array(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predicted_classes(logits)]})


def throughput(predict: Callable[[Sequence[str]], object], texts: Sequence[str], repeats: int):
    """Median texts per second of ``predict`` over ``repeats`` timed calls (after one warm-up)."""
    predict(texts[: min(len(texts), 8)])
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return float(np.median(rates))


def flatten(per_model: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        f"{model}_{key}": value
        for model, values in per_model.items()
        for key, value in values.items()
    }


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
    scores = [["model", *(["paper"] if paper else []), "ours [95% interval]"]]
    several = len(run.classes) > 2
    f1_key, f1_title = ("macro_f1", "macro-F1") if several else ("f1", "F1")
    scores[0] += [*(["ours vs paper"] if paper else []), f1_title, "ROC-AUC"]
    scores[0] += ["agreement with teacher"]
    scores[0] += ["size (bytes)"]
    titles = {TEACHER: run.teacher_title} | {s.name: s.title for s in STUDENTS}
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
    by_pair = {(c.model, c.reference): c for c in comparisons}
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
    versus_teacher = [["student", "student - teacher [95%]", "McNemar p", "verdict"]]
    for student in STUDENTS:
        compared = by_pair[(student.name, TEACHER)]
        verdict = ("teacher better", "tie", "student better")[compared.difference.sign + 1]
        versus_teacher.append(
            [student.title, compared.difference.signed(), _p_value(compared.mcnemar_p), verdict]
        )
    lines = ["# Results: paper vs this pipeline" if paper else "# Results", "", intro, ""]
    lines += _table(scores)
    if several:
        lines += ["", "## Accuracy per class", ""] + _class_lines(per_model, titles, run.classes)
    lines += ["", "## Distilled vs gold labels", ""] + _table(gains)
    lines += ["", "## Students vs the teacher", ""] + _table(versus_teacher)
    lines += ["", "## Students over seeds", ""] + _seed_lines(per_model, run.seeds, run.refitted)
    lines += ["", f"Teacher test accuracy: {accuracy[TEACHER].plain()}.", ""]
    return "\n".join(lines)


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
