"""The explain stage's one self-contained HTML page: what was measured, how faithful each model's
explainers are (ERASER), how alike each student explains and behaves to the teacher, every shown
review once with a model and a method picker, and the students' global views."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Iterable

import numpy as np

from bertdistill.core.logits import softmax
from bertdistill.core.params import SENTIMENT_CLASSES
from bertdistill.core.registry import KIND_TITLES, MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.core.tables import PAIR
from bertdistill.evaluation.statistics import INTERVAL_SUFFIXES, Interval, comparison_key, twins
from bertdistill.explain.erasure import PERCENTS
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
PER_CLASS = "per_class"  # global views key, set (True) where linear views list each class's n-grams
VERDICTS = ("lower", "tie", "higher")  # indexed by Interval.sign + 1

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222;
       line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; }
h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #eee; padding: 0.35rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.difference td { background: #fbfbf4; }
.verdict { font-weight: 600; margin-left: 0.3rem; }
.chip { display: inline-block; padding: 0 0.35rem; margin: 0.1rem; border-radius: 0.25rem;
        font-size: 0.85rem; }
.review { background: #fafafa; border: 1px solid #e5e5e5; border-radius: 0.4rem;
          padding: 0.8rem 1rem; }
.bar { display: inline-block; height: 0.7rem; background: #4a7bd0; vertical-align: middle; }
.meta { color: #666; font-size: 0.9rem; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
fieldset { border: none; padding: 0; margin: 0.3rem 0; }
legend { float: left; margin-right: 0.6rem; font-size: 0.9rem; color: #666; }
label { margin-right: 0.6rem; font-size: 0.9rem; }
label:has(input:disabled) { color: #aaa; }
"""
# Re-colours a review by the picked model's picked method and disables the methods that model
# lacks for it; without JS the page shows the server's default colouring. Mirrors colour().
_SCRIPT = """
document.querySelectorAll('section.explained').forEach(function (section) {
  var weights = JSON.parse(section.querySelector('script.weights').textContent);
  var words = section.querySelectorAll('.review span[data-word]');
  var methods = section.querySelectorAll('input.method');
  function update() {
    var available = weights[section.querySelector('input.model:checked').value];
    methods.forEach(function (radio) { radio.disabled = !(radio.value in available); });
    var method = section.querySelector('input.method:checked');
    if (method.disabled) {
      method = section.querySelector('input.method:enabled');
      method.checked = true;
    }
    var chosen = available[method.value];
    var scale = 0;
    for (var word in chosen) scale = Math.max(scale, Math.abs(chosen[word]));
    words.forEach(function (span) {
      var word = span.dataset.word;  // own keys only: 'constructor' is a word too
      var weight = Object.prototype.hasOwnProperty.call(chosen, word) ? chosen[word] : 0;
      span.style.background = colour(weight, scale);
      span.title = weight ? weight.toFixed(4) : '';
    });
  }
  section.querySelectorAll('input[type=radio]').forEach(function (radio) {
    radio.addEventListener('change', update);
  });
});
function colour(weight, scale) {
  if (weight === 0 || scale <= 0) return 'transparent';
  var alpha = Math.min(1, Math.abs(weight) / scale).toFixed(2);
  return (weight > 0 ? 'rgba(46,160,67,' : 'rgba(215,58,73,') + alpha + ')';
}
"""
_TOKEN = re.compile(r"(\w+)", flags=re.UNICODE)


def report_records(
    reviews, original, attributions, classes=SENTIMENT_CLASSES, targets=None
) -> list[dict]:
    """One record per shown review: each model's P(positive) (K classes: its probability of the
    class explained, ``targets[review]``, and the class names) and, per explainer that covers
    the review, its word weights strongest first; a sentence pair's texts as ``text`` and
    ``text_pair``."""
    records = []
    for position in range(len(reviews)):
        row = reviews.iloc[position]
        models = {}
        for (model, method), items in attributions.items():
            if position >= len(items):
                continue
            if targets is None:  # P(positive)
                logit = float(original[model][position])
                probability = round(1 / (1 + np.exp(-logit)), 6)
            else:  # P(the class explained)
                logits = np.asarray(original[model][position], dtype=np.float64)
                probability = round(float(softmax(logits[None])[0, targets[position]]), 6)
            entry = models.setdefault(model, {"probability": probability, "methods": {}})
            words = items[position].words
            ranked = sorted(words, key=lambda word: -abs(words[word]))
            entry["methods"][method] = [[word, round(words[word], 6)] for word in ranked]
        record = {"id": row["id"], "label": int(row["label"]), "text": row["text"]}
        if PAIR in reviews.columns:
            record[PAIR] = row[PAIR]
        if targets is not None:  # K classes: the names of the gold class and the one explained
            record["label_name"] = classes[int(row["label"])]
            record["explained"] = classes[int(targets[position])]
        records.append(record | {"models": models})
    return records


def colour(weight: float, scale: float) -> str:
    """Green for words pushing towards positive, red towards negative, opacity by |weight|."""
    if weight == 0 or scale <= 0:
        return "transparent"
    alpha = min(1.0, abs(weight) / scale)
    return f"rgba(46,160,67,{alpha:.2f})" if weight > 0 else f"rgba(215,58,73,{alpha:.2f})"


def interval(metrics: dict[str, float], key: str) -> Interval:
    """The estimate and 95% interval stored under ``key`` (see :meth:`Interval.keyed`)."""
    return Interval(*(metrics[f"{key}{suffix}"] for suffix in INTERVAL_SUFFIXES))


def _faithfulness_cell(
    metrics: dict[str, float], key: str, better: int, reference: str | None = None
) -> str:
    """A faithfulness mean with its interval and its paired differences from the random floor
    and from the model's ``reference`` explainer on the same reviews; the mean alone where too
    few reviews gave no interval (or for the floor itself)."""
    if f"{key}_ci_low" not in metrics:
        return f"{metrics[key]:.4f} (no interval: too few reviews)"
    text = interval(metrics, key).plain()
    if f"{key}_vs_random_ci_low" in metrics:
        difference = interval(metrics, f"{key}_vs_random")
        beats = "beats random" if difference.sign == better else "does not beat random"
        text += f'<br><span class="meta">{difference.signed()}: {beats}</span>'
    if reference is not None and f"{key}_vs_{reference}_ci_low" in metrics:
        difference = interval(metrics, f"{key}_vs_{reference}")
        than = _method_title(reference)
        word = {better: f"more faithful than {than}", -better: f"less faithful than {than}"}
        verdict_text = word.get(difference.sign, f"ties {than}")
        text += f'<br><span class="meta">{difference.signed()}: {verdict_text}</span>'
    return text


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


def _title(titles: dict[str, str], name: str) -> str:
    return html.escape(titles.get(name, name))


def _method_title(method: str) -> str:
    return html.escape(METHOD_TITLES.get(method, method))


def _coverage(metrics: dict[str, float], model: str) -> str:
    """``Integrated Gradients on 200, occlusion on 20, ...``: the explainers the model has."""
    return ", ".join(
        f"{_method_title(method)} on {metrics[f'{model}_{method}_reviews']:,}"
        for method in explainers(metrics, model)
        if method != RANDOM
    )


def _header(metrics: dict[str, float], settings: dict) -> str:
    return f"""
<h1>Explanations: the BERT teacher and its distilled students</h1>
<p>{metrics["num_reviews"]:,} test reviews (drawn with seed {settings["seed"]}). Teacher:
{_coverage(metrics, TEACHER)} reviews (Integrated Gradients with {settings["ig_steps"]} steps;
guided occlusion leaves out the {settings["guided_share"]:.0%} of a review's words that Integrated
Gradients finds strongest, one at a time, and ranks them by the drop in the teacher's logit; the
other words follow, in Integrated Gradients' order, shown faint).
Each student: {_coverage(metrics, STUDENT_NAMES[0])} reviews. LIME uses
{settings["num_samples"]:,} perturbed texts per review, the same ones for every model. Every model
also gets a random ranking of each review's words, the floor an explainer must beat.</p>
<p class="meta">Brackets: 95% intervals from {settings["bootstrap_resamples"]:,} bootstrap
resamples of the reviews, paired where two models are compared; a difference whose interval
includes zero is a tie. Each interval is at 95% on its own (no correction for making
several).</p>"""


def _faithfulness_section(metrics: dict[str, float], titles: dict[str, str]) -> str:
    rows = []
    for model in MODEL_NAMES:
        reference = REFERENCES.get(model)
        for method in explainers(metrics, model):
            key = f"{model}_{method}"
            cells = "".join(
                '<td class="num">'
                + _faithfulness_cell(metrics, f"{key}_{measure}", better, reference)
                + "</td>"
                for measure, better in (("comprehensiveness", 1), ("sufficiency", -1))
            )
            rows.append(
                f"<tr><td>{_title(titles, model)}</td><td>{_method_title(method)}</td>"
                f'<td class="num">{metrics[f"{key}_reviews"]:,}</td>{cells}</tr>'
            )
    percents = ", ".join(f"{percent}" for percent in PERCENTS)
    return f"""
<section id="faithfulness">
  <h2>How faithful is each explainer to its model?</h2>
  <p class="meta">ERASER's measures (DeYoung et al. 2020), each averaged over removing or keeping
  the explainer's top {percents}% of a review's words (AOPC). <b>Comprehensiveness</b>: how much
  the model's probability of its predicted class drops when the top words are removed; higher is
  more faithful. <b>Sufficiency</b>: how much it drops when only the top words are kept; lower is
  more faithful. Under each figure, the explainer minus its model's random ranking on the same
  reviews (paired): "beats random" only where the interval excludes zero; and minus the model's
  reference explainer (the teacher's guided occlusion, a student's exact attribution) on the
  reviews both cover (paired; a tie where the interval includes zero). An explainer on fewer
  than the params' <code>min_interval_reviews</code> reviews shows its mean alone: a bootstrap
  over a handful of reviews gives no 95% interval.</p>
  <table>
    <thead><tr><th>model</th><th>explainer</th><th>reviews</th>
    <th>comprehensiveness [95%] (higher: more faithful)</th>
    <th>sufficiency [95%] (lower: more faithful)</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
</section>"""


def _agreement_section(metrics: dict[str, float], settings: dict, titles: dict[str, str]) -> str:
    top_k = settings["top_k"]
    measures = (f"top{top_k}_overlap", "rank_correlation", "deletion_fidelity")
    rows = [
        f"<tr><td>{_title(titles, name)}</td>"
        + "".join(
            f'<td class="num">{interval(metrics, f"{name}_{measure}").plain()}</td>'
            for measure in measures
        )
        + "</tr>"
        for name in STUDENT_NAMES
    ]
    for kind, (model, reference) in twins().items():
        cells = []
        for measure in measures:
            difference = interval(metrics, f"{comparison_key(model, reference)}_{measure}_diff")
            cells.append(
                f'<td class="num">{difference.signed()}'
                f'<span class="verdict">{verdict(difference)}</span></td>'
            )
        rows.append(
            f'<tr class="difference"><td>{html.escape(KIND_TITLES[kind])}: '
            f"distilled - gold-label</td>{''.join(cells)}</tr>"
        )
    gap = metrics[GAP_KEY]
    return f"""
<section id="agreement">
  <h2>Do the students explain and behave like the teacher?</h2>
  <p class="meta">Each student's exact attribution against the teacher's guided occlusion, on
  all {metrics["num_reviews"]:,} reviews. <b>Top-{top_k} overlap</b>: the share of the teacher's
  {top_k} strongest words (by |weight|) among the student's {top_k} strongest. <b>Rank
  correlation</b>: Spearman correlation of the two attributions over the review's words.
  <b>Deletion fidelity</b>: Spearman correlation of the student's and the teacher's logit changes
  when the same random {settings["deletion_share"]:.0%} of a review's words are deleted
  ({settings["deletions"]} deletions per review): whether the student behaves like the teacher,
  whatever either explanation says. Rows "distilled - gold-label": the distilled student minus
  its gold-label twin on the same reviews (paired); higher or lower where the interval excludes
  zero, a tie otherwise.</p>
  <table>
    <thead><tr><th>student</th><th>top-{top_k} overlap [95%]</th>
    <th>rank correlation [95%]</th><th>deletion fidelity [95%]</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
  <p class="meta">Integrated Gradients is exact up to its quadrature ({settings["ig_steps"]}
  steps): its word attributions plus the logit at the baseline miss the teacher's logit on the
  review by {gap:.4f} on average (mean |completeness gap|, in logits).</p>
</section>"""


def _chips(words: list[list], scale: float) -> str:
    return "".join(
        f'<span class="chip" style="background:{colour(weight, scale)}" '
        f'title="{weight:+.4f}">{html.escape(word)}</span>'
        for word, weight in words
    )


def _strongest(weights: Iterable[float]) -> float:
    """The colour scale of one explainer on one review: its largest |weight|."""
    return max(map(abs, weights), default=0.0)


def _highlighted(text: str, weights: dict[str, float], prefix: str = "") -> str:
    """The review with each word's span coloured by ``weights`` (lowercased words, with a
    pair's side ``prefix``), relative to the strongest of them."""
    scale = _strongest(weights.values())
    parts = []
    for piece in _TOKEN.split(text):
        if _TOKEN.fullmatch(piece):
            word = prefix + piece.lower()
            weight = weights.get(word, 0.0)
            hint = f' title="{weight:.4f}"' if weight else ""
            parts.append(
                f'<span data-word="{html.escape(word)}"{hint} '
                f'style="background:{colour(weight, scale)}">{html.escape(piece)}</span>'
            )
        else:
            parts.append(html.escape(piece))
    return "".join(parts)


def _review_text(record: dict, weights: dict[str, float]) -> str:
    """The review coloured by ``weights``; a pair as its premise and its hypothesis."""
    if PAIR not in record:
        return _highlighted(record["text"], weights)
    return "".join(
        f"<p><b>{name}</b>: {_highlighted(record[key], weights, side)}</p>"
        for name, key, side in (("premise", "text", PREMISE), ("hypothesis", PAIR, HYPOTHESIS))
    )


def _picker(
    kind: str, index: int, options: dict[str, str], checked: str, enabled: Collection[str]
) -> str:
    """A radio group of ``options`` (value -> escaped label)."""
    radios = "".join(
        f'<label><input type="radio" class="{kind}" name="{kind}-{index}" '
        f'value="{html.escape(value)}"{" checked" if value == checked else ""}'
        f"{'' if value in enabled else ' disabled'}> {label}</label>"
        for value, label in options.items()
    )
    return f"<fieldset><legend>{kind}:</legend>{radios}</fieldset>"


def _review_section(record: dict, index: int, titles: dict[str, str], shown: int) -> str:
    """One review: P(positive) (K classes: of the class explained) and top ``shown`` words per
    model and method, the pickers, the text coloured by the teacher's first method (its
    reference explainer), and the weights."""
    models = record["models"]
    rows = []
    for name, result in models.items():
        span = len(result["methods"])
        lead = (
            f'<td rowspan="{span}">{_title(titles, name)}</td><td class="num" rowspan="{span}">'
            f'{result["probability"]:.3f} <span class="bar" '
            f'style="width:{result["probability"] * 4:.2f}rem"></span></td>'
        )
        for position, (method, words) in enumerate(result["methods"].items()):
            rows.append(
                f"<tr>{lead if position == 0 else ''}<td>{_method_title(method)}</td>"
                f"<td>{_chips(words[:shown], _strongest(w for _, w in words))}</td></tr>"
            )
    model = TEACHER if TEACHER in models else next(iter(models))
    method = next(iter(models[model]["methods"]))
    every_method = dict.fromkeys(m for result in models.values() for m in result["methods"])
    weights = {
        name: {
            method_name: {word: weight for word, weight in words if weight}
            for method_name, words in result["methods"].items()
        }
        for name, result in models.items()
    }
    # Escaped for a <script> element: no "</script>" or "<!--" can end it early.
    payload = json.dumps(weights, separators=(",", ":")).replace("<", "\\u003c")
    explained = record.get("explained", "positive")
    label = html.escape(
        record.get("label_name", "positive" if record["label"] == 1 else "negative")
    )
    towards = (
        "green: towards positive, red: towards negative"
        if "explained" not in record
        else f"green: towards {html.escape(explained)}, red: away from it"
    )
    model_picker = _picker(
        "model", index, {name: _title(titles, name) for name in models}, model, models
    )
    method_picker = _picker(
        "method",
        index,
        {name: _method_title(name) for name in every_method},
        method,
        models[model]["methods"],
    )
    return f"""
<section class="explained" id="review-{index}">
  <h2>Review {html.escape(str(record["id"]))} <span class="meta">(gold label: {label})</span></h2>
  <table>
    <thead><tr><th>model</th><th>P({html.escape(explained)})</th><th>explainer</th>
    <th>top {shown} words ({towards})</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
  {model_picker}
  {method_picker}
  <div class="review">{_review_text(record, weights[model][method])}</div>
  <script type="application/json" class="weights">{payload}</script>
</section>"""


def _global_section(global_views: dict, titles: dict[str, str]) -> str:
    per_class = global_views.get(PER_CLASS, False)
    strongest = "Each class's strongest" if per_class else "Strongest positive and negative"
    columns = []
    for name, words in global_views["linear"].items():
        scale = max((abs(w) for side in words.values() for _, w in side), default=1.0)
        # two classes: its positive and negative n-grams; K classes: each class's strongest
        lists = "".join(
            f"<p>{f'<b>{html.escape(side)}</b>: ' if per_class else ''}"
            f"{_chips(side_words, scale)}</p>"
            for side, side_words in words.items()
        )
        columns.append(f"<div><h3>{_title(titles, name)}</h3>{lists}</div>")
    trees = "".join(
        f"<div><h3>{_title(titles, name)}</h3><pre>{html.escape(text)}</pre></div>"
        for name, text in global_views["trees"].items()
    )
    return f"""
<section>
  <h2>Global view: what each student learned</h2>
  <p class="meta">{strongest} n-grams of the linear students (coefficients),
  and the top levels of both decision trees (TF-IDF value thresholds).</p>
  <div class="columns">{"".join(columns)}</div>
  <div class="columns">{trees}</div>
</section>"""


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
    reviews = "".join(
        _review_section(record, index, titles, settings["num_features"])
        for index, record in enumerate(records)
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Explanations: BERT teacher and distilled students</title>
<style>{_STYLE}</style>
</head>
<body>
{_header(metrics, settings)}
{_faithfulness_section(metrics, titles)}
{_agreement_section(metrics, settings, titles)}
<h2>Reviews</h2>
<p class="meta">The first {len(records)} reviews, each coloured by one model's explainer (pick
both below each review): green words push towards positive, red towards negative, stronger
colour for a larger |weight| relative to that explainer's strongest word on the review. Weights
are in each explainer's own units (Integrated Gradients and occlusion: the teacher's logit;
exact: the student's raw output, a decision function, regressed logit or tree leaf value;
LIME: the probability), so compare words within one explainer, not across.</p>
{reviews}
{_global_section(global_views, titles)}
<script>{_SCRIPT}</script>
</body>
</html>
"""
