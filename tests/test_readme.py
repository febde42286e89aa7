"""The README's results table is the committed run's: one home per figure (metrics/)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "| Teacher (MiniLM": ("teacher",),
    "| Logistic regression (distilled": ("lr_baseline", "lr_distilled"),
    "| SVM (LinearSVC": ("svm_baseline", "svm_distilled"),
    "| Decision tree (classifier": ("tree_baseline", "tree_distilled"),
}


def interval(metrics: dict, key: str, sign: str = "") -> str:
    low, high = metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]
    return f"{metrics[key]:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


@pytest.mark.parametrize("start", ROWS)
def test_the_readme_results_are_the_committed_metrics(start):
    metrics = json.loads((ROOT / "metrics/evaluate.json").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Results of the committed default run")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith(start)]
    assert len(rows) == 1, start
    cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    models = ROWS[start]
    for model, cell in zip(models, cells[2:], strict=False):
        assert cell == interval(metrics, f"{model}_accuracy"), model
    if len(models) == 2:
        gain = f"{models[1]}_vs_{models[0]}_accuracy_diff"
        assert cells[4] == interval(metrics, gain, "+"), gain
    assert f"{metrics['test_size']:,} test reviews" in section


EXPLAIN_SECTION = "### Explanations of the committed run"
# README row start -> its figures' keys in metrics/explain.json, cell by cell from the third
FAITHFULNESS_ROWS = {
    f"| teacher | {title}": [
        f"teacher_{method}_comprehensiveness",
        f"teacher_{method}_sufficiency",
    ]
    for title, method in (
        ("guided occlusion", "guided_occlusion"),
        ("Integrated Gradients", "integrated_gradients"),
        ("occlusion (every word)", "occlusion"),
        ("random ranking", "random"),
    )
}
AGREEMENT_ROWS = {
    f"| {title} {variant_title} |": [
        f"{kind}_{variant}_{measure}" for measure in ("top5_overlap", "rank_correlation")
    ]
    + [f"{kind}_{variant}_deletion_fidelity"]
    for kind, title in (("lr", "LR"), ("svm", "SVM"), ("tree", "tree"))
    for variant, variant_title in (("baseline", "gold"), ("distilled", "distilled"))
}


@pytest.mark.parametrize("start", [*FAITHFULNESS_ROWS, *AGREEMENT_ROWS])
def test_the_readme_explanations_are_the_committed_metrics(start):
    metrics = json.loads((ROOT / "metrics/explain.json").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme.split(EXPLAIN_SECTION)[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith(start)]
    assert len(rows) == 1, start
    cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    keys = FAITHFULNESS_ROWS.get(start) or AGREEMENT_ROWS[start]
    shown = cells[3:5] if start in FAITHFULNESS_ROWS else cells[1:4]
    assert shown == [interval(metrics, key) for key in keys]
    if start in FAITHFULNESS_ROWS:
        method = keys[0].removeprefix("teacher_").removesuffix("_comprehensiveness")
        assert cells[2] == f"{metrics[f'teacher_{method}_reviews']:,}"
        for cell, versus in zip(cells[5:7], ("random", "guided_occlusion"), strict=True):
            differences = [f"{key}_vs_{versus}" for key in keys]
            if f"{differences[0]}_ci_low" not in metrics:  # the floor, the reference itself
                assert cell == "", versus
                continue
            assert cell == " / ".join(interval(metrics, key, "+") for key in differences), versus
    assert f"{metrics['num_reviews']:,} test reviews drawn with the seed" in section
