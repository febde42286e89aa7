"""One self-contained HTML page: every explained review once, all models side by side."""

from __future__ import annotations

import html
import json
import re

from bertdistill.registry import STUDENT_NAMES, TEACHER

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
.chip { display: inline-block; padding: 0 0.35rem; margin: 0.1rem; border-radius: 0.25rem;
        font-size: 0.85rem; }
.review { background: #fafafa; border: 1px solid #e5e5e5; border-radius: 0.4rem;
          padding: 0.8rem 1rem; }
.bar { display: inline-block; height: 0.7rem; background: #4a7bd0; vertical-align: middle; }
.meta { color: #666; font-size: 0.9rem; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
label { margin-right: 0.6rem; font-size: 0.9rem; }
"""
# Re-colours the review text by the chosen model's LIME weights; the page reads fine without it.
_SCRIPT = """
document.querySelectorAll('section.explained').forEach(function (section) {
  var weights = JSON.parse(section.querySelector('script.weights').textContent);
  section.querySelectorAll('input[type=radio]').forEach(function (radio) {
    radio.addEventListener('change', function () {
      var chosen = weights[radio.value] || {};
      section.querySelectorAll('.review span[data-word]').forEach(function (span) {
        span.style.background = colour(chosen[span.dataset.word.toLowerCase()] || 0, section);
      });
    });
  });
});
function colour(weight, section) {
  var scale = parseFloat(section.dataset.scale) || 1;
  var alpha = Math.min(1, Math.abs(weight) / scale).toFixed(2);
  if (weight === 0) return 'transparent';
  return (weight > 0 ? 'rgba(46,160,67,' : 'rgba(215,58,73,') + alpha + ')';
}
"""
_TOKEN = re.compile(r"(\w+)", flags=re.UNICODE)


def colour(weight: float, scale: float) -> str:
    """Green for words pushing towards positive, red towards negative, opacity by |weight|."""
    if weight == 0 or scale <= 0:
        return "transparent"
    alpha = min(1.0, abs(weight) / scale)
    return f"rgba(46,160,67,{alpha:.2f})" if weight > 0 else f"rgba(215,58,73,{alpha:.2f})"


def _chips(words: list[tuple[str, float]], scale: float) -> str:
    return "".join(
        f'<span class="chip" style="background:{colour(weight, scale)}" '
        f'title="{weight:+.4f}">{html.escape(word)}</span>'
        for word, weight in words
    )


def _highlighted(text: str, weights: dict[str, float], scale: float) -> str:
    parts = []
    for piece in _TOKEN.split(text):
        if _TOKEN.fullmatch(piece):
            weight = weights.get(piece.lower(), weights.get(piece, 0.0))
            parts.append(
                f'<span data-word="{html.escape(piece)}" '
                f'style="background:{colour(weight, scale)}">{html.escape(piece)}</span>'
            )
        else:
            parts.append(html.escape(piece))
    return "".join(parts)


def _review_section(record: dict, index: int, titles: dict[str, str]) -> str:
    models = record["models"]
    scale = max((abs(w) for m in models.values() for _, w in m["words"]), default=1.0)
    label = "positive" if record["label"] == 1 else "negative"
    rows = []
    for name, result in models.items():
        probability = result["probability"]
        rows.append(
            f"<tr><td>{html.escape(titles.get(name, name))}</td>"
            f'<td class="num">{probability:.3f} <span class="bar" '
            f'style="width:{probability * 4:.2f}rem"></span></td>'
            f'<td class="num">{result["local_fit"]:.2f}</td>'
            f"<td>{_chips(result['words'], scale)}</td></tr>"
        )
    radios = "".join(
        f'<label><input type="radio" name="model-{index}" value="{name}"'
        f"{' checked' if name == TEACHER else ''}> {html.escape(titles.get(name, name))}"
        f"</label>"
        for name in models
    )
    weights = {name: {w.lower(): v for w, v in m["words"]} for name, m in models.items()}
    teacher_weights = weights.get(TEACHER, {})
    payload = json.dumps(weights).replace("</", "<\\/")
    return f"""
<section class="explained" data-scale="{scale:.6f}">
  <h2>Review {html.escape(record["id"])} <span class="meta">(gold label: {label})</span></h2>
  <table>
    <thead><tr><th>model</th><th>P(positive)</th><th>LIME fit (R²)</th>
    <th>top words (green: towards positive, red: towards negative)</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
  <p class="meta">Highlight the review by: {radios}</p>
  <div class="review">{_highlighted(record["text"], teacher_weights, scale)}</div>
  <script type="application/json" class="weights">{payload}</script>
</section>"""


def _global_section(global_views: dict, titles: dict[str, str]) -> str:
    columns = []
    for name, words in global_views["linear"].items():
        scale = max((abs(w) for side in words.values() for _, w in side), default=1.0)
        columns.append(
            f"<div><h3>{html.escape(titles.get(name, name))}</h3>"
            f"<p>{_chips(words['positive'], scale)}</p>"
            f"<p>{_chips(words['negative'], scale)}</p></div>"
        )
    trees = "".join(
        f"<div><h3>{html.escape(titles.get(name, name))}</h3><pre>{html.escape(text)}</pre></div>"
        for name, text in global_views["trees"].items()
    )
    return f"""
<section>
  <h2>Global view: what each student learned</h2>
  <p class="meta">Strongest positive and negative n-grams of the linear students (coefficients),
  and the top levels of both decision trees (TF-IDF value thresholds).</p>
  <div class="columns">{"".join(columns)}</div>
  <div class="columns">{trees}</div>
</section>"""


def _agreement_section(agreement: dict, top_k: int, titles: dict[str, str]) -> str:
    rows = []
    for name in STUDENT_NAMES:
        rows.append(
            f"<tr><td>{html.escape(titles.get(name, name))}</td>"
            f'<td class="num">{agreement[f"{name}_top{top_k}_overlap"]:.3f}</td>'
            f'<td class="num">{agreement[f"{name}_rank_correlation"]:.3f}</td>'
            f'<td class="num">{agreement[f"{name}_local_fit"]:.3f}</td></tr>'
        )
    return f"""
<section>
  <h2>Do the students explain like the teacher?</h2>
  <table>
    <thead><tr><th>student</th><th>top-{top_k} overlap with teacher</th>
    <th>rank correlation of shared word weights</th><th>LIME fit (R²)</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table>
</section>"""


def render(
    records: list[dict],
    global_views: dict,
    agreement: dict,
    settings: dict,
    titles: dict[str, str],
) -> str:
    """The whole page; self-contained (inline CSS and a few lines of JS, no external files).

    ``titles`` names each model for display, as :func:`bertdistill.registry.short_titles` does.
    """
    reviews = "".join(
        _review_section(record, index, titles) for index, record in enumerate(records)
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LIME explanations: BERT teacher and distilled students</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>LIME explanations: BERT teacher and its students</h1>
<p class="meta">{len(records)} test reviews; LIME with {settings["num_samples"]} perturbed texts and
{settings["num_features"]} words per explanation, the same perturbations for every model of a
review (seed {settings["seed"]}).</p>
{_agreement_section(agreement, settings["top_k"], titles)}
{reviews}
{_global_section(global_views, titles)}
<script>{_SCRIPT}</script>
</body>
</html>
"""
