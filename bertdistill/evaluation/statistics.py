"""95% intervals: seeded bootstrap means, paired differences, McNemar's exact test, the exact
binomial interval of an accuracy known only as a count, the comparisons every report makes and
the students' spread over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from bertdistill.core.logits import predicted_classes
from bertdistill.core.registry import (
    KINDS,
    STUDENT_NAMES,
    TEACHER,
)

LEVEL = 0.95  # every interval this module gives is a 95% interval


DIGITS = 6  # metrics keep interval ends to 6 decimals: an accuracy on <= 10**6 texts is exact


SHOWN = 3  # the report shows differences to 3 decimals, and words them by what it shows


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


def gain_keys() -> dict[str, str]:
    """``<kind>_gain`` and its interval's ends (a distilled student's accuracy minus its
    gold-label twin's), each mapped to its key in evaluate's full metrics."""
    return {
        f"{kind}_gain{suffix}": f"{difference_key(*pair)}{suffix}"
        for kind, pair in twins().items()
        for suffix in INTERVAL_SUFFIXES
    }


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


def exact_binomial(successes: int, trials: int) -> Interval:
    """``successes / trials`` with its 95% Clopper-Pearson (exact binomial) interval: for an
    accuracy kept as a number of texts alone (a validation accuracy in the students' metrics),
    where the per-text hits a bootstrap resamples are gone."""
    interval = binomtest(successes, trials).proportion_ci(confidence_level=LEVEL, method="exact")
    values = (successes / trials, interval.low, interval.high)
    return Interval(*(round(float(value), DIGITS) for value in values))


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
