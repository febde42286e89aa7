"""The explain stage's one self-contained HTML page: what was measured, how faithful each model's
explainers are (ERASER), how alike each student explains and behaves to the teacher, every shown
review once with a model and a method picker, and the students' global views. This module
computes what the page shows (rows, cells, verdicts, colours); the markup and its wording are in
``templates/report.html.j2``, which inlines ``report.css`` and ``report.js``. Jinja2 renders it
with autoescaping on, so every text taken from the data is escaped."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable

from jinja2 import Environment

from bertdistill.core.registry import KIND_TITLES, MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.core.tables import PAIR
from bertdistill.core.templates import template_environment
from bertdistill.evaluation.statistics import INTERVAL_SUFFIXES, Interval, comparison_key, twins
from bertdistill.explain.erasure import PERCENTS
from bertdistill.explain.global_views import PER_CLASS
from bertdistill.explain.measures import GAP_KEY, RANDOM, REFERENCES
from bertdistill.students.pair_features import HYPOTHESIS, PREMISE

# Display names of the explainers the stage runs; any other is shown by its key.
METHOD_TITLES = {
    "integrated_gradients": "Integrated Gradients",
    "occlusion": "occlusion",
    "guided_occlusion": "guided occlusion",
    "exact": "exact",
    "lime": "LIME",
    RANDOM: "random ranking (floor)",
}
VERDICTS = ("lower", "tie", "higher")  # indexed by Interval.sign + 1
# ERASER's measures, each with the sign of a more faithful explainer's difference
_FAITHFULNESS = (("comprehensiveness", 1), ("sufficiency", -1))
_TOKEN = re.compile(r"(\w+)", flags=re.UNICODE)


@functools.cache
def templates() -> Environment:
    """The page's templates, loaded on first use. Escapes every value it prints. ``fmt``
    formats a number by a format spec: {{ n|fmt(",") }}. ``tojson`` keeps the keys' order and
    escapes <, >, & and ': no word can end its <script>."""
    environment = template_environment("bertdistill.explain", html=True)
    environment.filters["fmt"] = format
    environment.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    return environment


def colour(weight: float, scale: float) -> str:
    """Green for words pushing towards positive, red towards negative, opacity by |weight|."""
    if weight == 0 or scale <= 0:
        return "transparent"
    alpha = min(1.0, abs(weight) / scale)
    return f"rgba(46,160,67,{alpha:.2f})" if weight > 0 else f"rgba(215,58,73,{alpha:.2f})"


def interval(metrics: dict[str, float], key: str) -> Interval:
    """The estimate and 95% interval stored under ``key`` (see :meth:`Interval.keyed`)."""
    return Interval(*(metrics[f"{key}{suffix}"] for suffix in INTERVAL_SUFFIXES))


def verdict(difference: Interval) -> str:
    """A paired difference in words: a tie unless its interval, as shown, excludes zero."""
    return VERDICTS[difference.sign + 1]


def explainers(metrics: dict[str, float], model: str) -> list[str]:
    """The explainers measured for ``model`` (it has ``<model>_<explainer>_reviews``), those
    covering most reviews first and the random floor last."""
    prefix, suffix = f"{model}_", "_reviews"
    found = [
        key.removeprefix(prefix).removesuffix(suffix)
        for key in metrics
        if key.startswith(prefix) and key.endswith(suffix)
    ]
    return sorted(
        found, key=lambda name: (name == RANDOM, -metrics[f"{prefix}{name}{suffix}"], name)
    )


def _method_title(method: str) -> str:
    return METHOD_TITLES.get(method, method)


def _coverage(metrics: dict[str, float], model: str) -> str:
    """``Integrated Gradients on 200, occlusion on 20, ...``: the explainers the model has."""
    return ", ".join(
        f"{_method_title(method)} on {metrics[f'{model}_{method}_reviews']:,}"
        for method in explainers(metrics, model)
        if method != RANDOM
    )


def _faithfulness_cell(
    metrics: dict[str, float], key: str, better: int, reference: str | None = None
) -> dict:
    """A faithfulness mean with its interval (``estimate``) and, as ``comparisons``, its paired
    differences from the random floor and from the model's ``reference`` explainer on the same
    reviews; the mean alone where too few reviews gave no interval (or for the floor itself)."""
    if f"{key}_ci_low" not in metrics:
        return {"estimate": f"{metrics[key]:.4f} (no interval: too few reviews)", "comparisons": []}
    comparisons = []
    if f"{key}_vs_random_ci_low" in metrics:
        difference = interval(metrics, f"{key}_vs_random")
        beats = "beats random" if difference.sign == better else "does not beat random"
        comparisons.append(f"{difference.signed()}: {beats}")
    if reference is not None and f"{key}_vs_{reference}_ci_low" in metrics:
        difference = interval(metrics, f"{key}_vs_{reference}")
        than = _method_title(reference)
        words = {better: f"more faithful than {than}", -better: f"less faithful than {than}"}
        comparisons.append(f"{difference.signed()}: {words.get(difference.sign, f'ties {than}')}")
    return {"estimate": interval(metrics, key).plain(), "comparisons": comparisons}


def _faithfulness_rows(metrics: dict[str, float], titles: dict[str, str]) -> list[dict]:
    """One row per model and explainer: its reviews and a cell per ERASER measure."""
    rows = []
    for model in MODEL_NAMES:
        for method in explainers(metrics, model):
            key, reference = f"{model}_{method}", REFERENCES.get(model)
            cells = [
                _faithfulness_cell(metrics, f"{key}_{measure}", better, reference)
                for measure, better in _FAITHFULNESS
            ]
            row = {"model": titles.get(model, model), "method": _method_title(method)}
            rows.append(row | {"reviews": metrics[f"{key}_reviews"], "cells": cells})
    return rows


def _agreement_rows(metrics: dict[str, float], top_k: int, titles: dict[str, str]) -> dict:
    """Each student's agreement with the teacher (``students``: title, cells) and, per kind, the
    distilled student minus its gold-label twin, each cell with its verdict (``differences``)."""
    measures = (f"top{top_k}_overlap", "rank_correlation", "deletion_fidelity")
    students = [
        (titles.get(name, name), [interval(metrics, f"{name}_{m}").plain() for m in measures])
        for name in STUDENT_NAMES
    ]
    differences = []
    for kind, (model, reference) in twins().items():
        key = comparison_key(model, reference)
        shown = [interval(metrics, f"{key}_{measure}_diff") for measure in measures]
        differences.append((KIND_TITLES[kind], [(d.signed(), verdict(d)) for d in shown]))
    return {"students": students, "differences": differences}


def _chips(words: Iterable, scale: float) -> list[tuple]:
    """Each word with its weight and colour relative to ``scale``."""
    return [(word, weight, colour(weight, scale)) for word, weight in words]


def _strongest(weights: Iterable[float]) -> float:
    """The colour scale of one explainer on one review: its largest |weight|."""
    return max(map(abs, weights), default=0.0)


def _highlighted(text: str, weights: dict[str, float], prefix: str = "") -> list[tuple]:
    """The review in pieces, each with its word (lowercased, with a pair's side ``prefix``; None
    between words), weight and colour relative to the strongest of ``weights``."""
    scale, pieces = _strongest(weights.values()), []
    for piece in _TOKEN.split(text):
        word = prefix + piece.lower() if _TOKEN.fullmatch(piece) else None
        weight = weights.get(word, 0.0)
        pieces.append((piece, word, weight, colour(weight, scale)))
    return pieces


def _review_text(record: dict, weights: dict[str, float]) -> list[tuple]:
    """The review's paragraphs coloured by ``weights``, each with its name: one unnamed (None),
    or a pair's premise and hypothesis."""
    if PAIR not in record:
        return [(None, _highlighted(record["text"], weights))]
    return [
        (name, _highlighted(record[key], weights, side))
        for name, key, side in (("premise", "text", PREMISE), ("hypothesis", PAIR, HYPOTHESIS))
    ]


def _picker(kind: str, options: dict[str, str], checked: str, enabled: Collection[str]) -> dict:
    """A radio group: per option (value -> label), its value, label, checked and disabled."""
    radios = [
        (value, label, value == checked, value not in enabled) for value, label in options.items()
    ]
    return {"kind": kind, "options": radios}


def _model_rows(models: dict, titles: dict[str, str], shown: int) -> list[dict]:
    """Per model its title, probability and, per method, its title and its top ``shown`` words
    as chips coloured relative to that method's strongest word on the review."""
    rows = []
    for name, result in models.items():
        methods = [
            (_method_title(method), _chips(words[:shown], _strongest(w for _, w in words)))
            for method, words in result["methods"].items()
        ]
        title = titles.get(name, name)
        rows.append({"title": title, "probability": result["probability"], "methods": methods})
    return rows


def _review(record: dict, index: int, titles: dict[str, str], shown: int) -> dict:
    """One review: its models' rows, the pickers, the text coloured by the teacher's first
    method (its reference explainer) and, for the pickers, every model's nonzero weights."""
    models = record["models"]
    model = TEACHER if TEACHER in models else next(iter(models))
    method = next(iter(models[model]["methods"]))
    every_method = dict.fromkeys(m for result in models.values() for m in result["methods"])
    weights = {  # the nonzero ones: the picker colours a missing word as 0
        name: {m: {w: x for w, x in words if x} for m, words in result["methods"].items()}
        for name, result in models.items()
    }
    model_titles = {name: titles.get(name, name) for name in models}
    method_titles = {name: _method_title(name) for name in every_method}
    return {
        "index": index,
        "id": str(record["id"]),
        "label": record.get("label_name", "positive" if record["label"] == 1 else "negative"),
        "explained": record.get("explained"),
        "models": _model_rows(models, titles, shown),
        "pickers": [
            _picker("model", model_titles, model, models),
            _picker("method", method_titles, method, models[model]["methods"]),
        ],
        "paragraphs": _review_text(record, weights[model][method]),
        "weights": weights,
    }


def _global_views(global_views: dict, titles: dict[str, str]) -> dict:
    """The linear students' strongest n-grams as chips, per side (two classes: positive and
    negative; K classes: each class, named), and the top levels of each tree."""
    linear = []
    for name, words in global_views["linear"].items():
        scale = max((abs(w) for side in words.values() for _, w in side), default=1.0)
        sides = [(side, _chips(chips, scale)) for side, chips in words.items()]
        linear.append((titles.get(name, name), sides))
    trees = [(titles.get(name, name), text) for name, text in global_views["trees"].items()]
    return {PER_CLASS: global_views.get(PER_CLASS, False), "linear": linear, "trees": trees}


def render(
    records: list[dict],
    global_views: dict,
    metrics: dict[str, float],
    settings: dict,
    titles: dict[str, str],
) -> str:
    """The whole page; self-contained (inline CSS, JSON and a few lines of JS, no external files).

    ``records`` as :func:`report_records` gives them, ``metrics`` the flat keys of
    :func:`bertdistill.explain.measures.flat_metrics` plus the stage's completeness gap and
    ``num_reviews``, ``settings`` the explain params plus ``seed``, ``titles`` each model's
    display title (:func:`bertdistill.core.registry.short_titles`).
    """
    coverage = {"teacher": TEACHER, "student": STUDENT_NAMES[0]}
    shown = settings["num_features"]
    reviews = [_review(record, index, titles, shown) for index, record in enumerate(records)]
    return (
        templates()
        .get_template("report.html.j2")
        .render(
            metrics=metrics,
            settings=settings,
            coverage={side: _coverage(metrics, model) for side, model in coverage.items()},
            percents=PERCENTS,
            gap=metrics[GAP_KEY],
            faithfulness=_faithfulness_rows(metrics, titles),
            agreement=_agreement_rows(metrics, settings["top_k"], titles),
            reviews=reviews,
            global_views=_global_views(global_views, titles),
        )
    )
