"""The README and docs/ say what the repository holds: their result tables are the committed
run's (one home per figure: metrics/), the README's tree names every top-level folder and
subpackage, docs/development.md's every module of the package, and every relative link leads
somewhere."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from bertdistill.core.registry import PAPER_TABLE

README = ROOT / "README.md"
DEVELOPMENT = ROOT / "docs/development.md"
USAGE = ROOT / "docs/usage.md"
EXPLANATIONS = ROOT / "docs/explanations.md"
ROWS = {
    "| Teacher (MiniLM": ("teacher",),
    "| Logistic regression (distilled": ("lr_baseline", "lr_distilled"),
    "| SVM (LinearSVC": ("svm_baseline", "svm_distilled"),
    "| Decision tree (classifier": ("tree_baseline", "tree_distilled"),
}


def interval(metrics: dict, key: str, sign: str = "") -> str:
    low, high = metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]
    return f"{metrics[key]:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


def section(path: Path, heading: str) -> str:
    """The text under ``heading`` up to the next heading of level 2."""
    text = path.read_text(encoding="utf-8")
    assert heading in text, f"{path.name} has no '{heading}'"
    return text.split(heading)[1].split("\n## ")[0]


def table_cells(text: str, start: str) -> list[str]:
    """The cells of the one table row of ``text`` that starts with ``start``."""
    rows = [line for line in text.splitlines() if line.startswith(start)]
    assert len(rows) == 1, start
    return [cell.strip() for cell in rows[0].split("|")[1:-1]]


@pytest.mark.parametrize("start", ROWS)
def test_the_readme_results_are_the_committed_metrics(start):
    metrics = json.loads((ROOT / "metrics/evaluate.json").read_text())
    results = section(README, "## Results of the committed default run")
    cells = table_cells(results, start)
    models = ROWS[start]
    paper = " / ".join(f"{PAPER_TABLE[model]:.2f}" for model in models)
    assert cells[1].split(" (")[0] == paper, "the paper column is the registry's"
    for model, cell in zip(models, cells[2:], strict=False):
        assert cell == interval(metrics, f"{model}_accuracy"), model
    if len(models) == 2:
        gain = f"{models[1]}_vs_{models[0]}_accuracy_diff"
        assert cells[4] == interval(metrics, gain, "+"), gain
        p_value = metrics[f"{models[1]}_vs_{models[0]}_mcnemar_p"]
        assert cells[5] == ("<0.0001" if p_value < 0.0001 else f"{p_value:.4f}"), gain
    assert f"{metrics['test_size']:,} test reviews" in results


RESULTS = ROOT / "docs/results.md"
FRONTIER_HEADING = "Students a person can read"
FRONTIER_TITLES = {"LR": "lr", "SVM": "svm", "tree": "tree"}


def frontier_tables(text: str) -> list[list[list[str]]]:
    """The size tables of ``text``: those whose header's first cell is "n-gram weights" or
    "leaves", each as rows of cells."""
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("| n-gram weights |") or line.startswith("| leaves |"):
            current = [[cell.strip() for cell in line.split("|")[1:-1]]]
            tables.append(current)
        elif current is not None and line.startswith("|"):
            if not line.startswith("|---"):
                current.append([cell.strip() for cell in line.split("|")[1:-1]])
        else:
            current = None
    return tables


def frontier_cell(metrics: dict, title: str, budget: str) -> str:
    """What a size table's cell must read: row ``title``, column ``budget``."""
    name, _, what = title.partition(", ")  # "LR, gold labels", "tree, distilled - teacher"
    kind = FRONTIER_TITLES[name]
    if what == "gold labels":
        return interval(metrics, f"{kind}_baseline_{budget}_accuracy")
    if what == "distilled":
        return interval(metrics, f"{kind}_distilled_{budget}_accuracy")
    if what == "size (gold / distilled)":
        sizes = (
            metrics[f"{kind}_{variant}_{budget}_size"] for variant in ("baseline", "distilled")
        )
        return " / ".join(f"{size:,}" for size in sizes)
    if what == "distilled - gold":
        return interval(metrics, f"{kind}_{budget}_gain", "+")
    assert what == "distilled - teacher", title
    return interval(metrics, f"{kind}_distilled_{budget}_vs_teacher", "+")


@pytest.mark.parametrize(
    ("path", "heading", "count"),
    [(README, f"### {FRONTIER_HEADING}", 1), (RESULTS, f"## {FRONTIER_HEADING}", 2)],
)
def test_the_size_tables_are_the_committed_metrics(path, heading, count):
    metrics = json.loads((ROOT / "metrics/size_frontier.json").read_text())
    tables = frontier_tables(section(path, heading))
    assert len(tables) == count
    for header, *rows in tables:
        budgets = [cell.replace(",", "") for cell in header[1:]]
        assert budgets[-1] == "all" and len(rows) >= 5
        for cells in rows:
            expected = [frontier_cell(metrics, cells[0], budget) for budget in budgets]
            assert cells[1:] == expected, cells[0]


AUGMENT_ROWS = {"| 1, minus none |": 1, "| 4, minus none |": 4}


@pytest.mark.parametrize("start", AUGMENT_ROWS)
def test_the_readme_snli_augmentation_rows_are_the_committed_comparisons(start):
    path = ROOT / f"metrics/snli/augment/n_augment_{AUGMENT_ROWS[start]}_vs_0.json"
    models = json.loads(path.read_text())["models"]
    cells = table_cells(section(README, "## Results of the committed default run"), start)
    for cell, model in zip(
        cells[1:], ("lr_distilled", "svm_distilled", "tree_distilled"), strict=True
    ):
        row = models[model]
        low, high = row["accuracy_difference_ci"]
        shown = f"{row['accuracy_difference']:+.3f} [{low:+.3f}, {high:+.3f}]"
        assert cell == shown + (" (tie)" if row["accuracy_tie"] else ""), model


POOL_HEADING = "### Every unlabelled review, against the teacher"
POOL_ROWS = {"| Teacher": "teacher", "| LR, distilled": "lr_distilled"}
POOL_ROWS |= {"| SVM, distilled": "svm_distilled", "| tree, distilled": "tree_distilled"}


def tie_marked(metrics: dict, key: str) -> str:
    tie = metrics[f"{key}_ci_low"] <= 0 <= metrics[f"{key}_ci_high"]
    return interval(metrics, key, "+") + (" (tie)" if tie else "")


@pytest.mark.parametrize("start", POOL_ROWS)
def test_the_readme_whole_pool_rows_are_the_committed_experiment(start):
    """Accuracy, minus the teacher with McNemar's p on every test review, and minus the teacher
    on the reviews it cuts: metrics/pool/evaluate.json and metrics/pool/truncation.json."""
    metrics = json.loads((ROOT / "metrics/pool/evaluate.json").read_text())
    cut = json.loads((ROOT / "metrics/pool/truncation.json").read_text())
    text = section(README, "## Results of the committed default run").split(POOL_HEADING)[1]
    model = POOL_ROWS[start]
    cells = table_cells(text.split("\n### ")[0], f"{start} ")
    assert cells[1] == interval(metrics, f"{model}_accuracy"), model
    if model == "teacher":
        assert cells[2:] == [""] * 3
    else:
        assert cells[2] == tie_marked(metrics, f"{model}_vs_teacher_accuracy_diff"), model
        p_value = metrics[f"{model}_vs_teacher_mcnemar_p"]
        assert cells[3] == ("<0.0001" if p_value < 0.0001 else f"{p_value:.4f}"), model
        assert cells[4] == tie_marked(cut, f"cut_{model}_vs_teacher_accuracy_diff"), model
    assert f"all {metrics['test_size']:,} test reviews" in text
    assert f"{cut['cut_texts']:,} reviews the teacher cuts" in text


POOL_TITLES = {"teacher": "teacher", "LR, gold labels": "lr_baseline"}
POOL_TITLES |= {"LR, distilled": "lr_distilled", "SVM, gold labels": "svm_baseline"}
POOL_TITLES |= {"SVM, distilled": "svm_distilled", "tree, gold labels": "tree_baseline"}
POOL_TITLES |= {"tree, distilled": "tree_distilled"}


@pytest.mark.parametrize(("title", "model"), POOL_TITLES.items())
def test_the_whole_pool_table_of_the_results_page_is_the_committed_experiment(title, model):
    """All reviews (evaluate.json), then those the teacher read whole and those it cut
    (truncation.json): accuracy, and minus the teacher."""
    metrics = json.loads((ROOT / "metrics/pool/evaluate.json").read_text())
    cut = json.loads((ROOT / "metrics/pool/truncation.json").read_text())
    text = section(RESULTS, f"## {POOL_HEADING.removeprefix('### ')}")
    expected = [interval(metrics, f"{model}_accuracy")]
    expected.append(
        "" if model == "teacher" else tie_marked(metrics, f"{model}_vs_teacher_accuracy_diff")
    )
    for group in ("whole", "cut"):
        expected.append(interval(cut, f"{group}_{model}_accuracy"))
        key = f"{group}_{model}_vs_teacher_accuracy_diff"
        expected.append("" if model == "teacher" else tie_marked(cut, key))
    assert table_cells(text, f"| {title} |")[1:] == expected
    assert f"read whole ({cut['whole_texts']:,})" in text and f"cut ({cut['cut_texts']:,})" in text


def test_the_default_runs_truncation_figures_are_its_committed_metrics():
    metrics = json.loads((ROOT / "metrics/truncation.json").read_text())
    text = " ".join(section(RESULTS, f"## {POOL_HEADING.removeprefix('### ')}").split())
    assert f"cuts {metrics['cut_texts']:,} of them" in text
    assert (
        f"leads it by {interval(metrics, 'cut_lr_distilled_vs_teacher_accuracy_diff', '+')}" in text
    )
    assert f"on the {metrics['whole_texts']:,} it reads whole the two tie" in text
    assert f"({interval(metrics, 'whole_lr_distilled_vs_teacher_accuracy_diff', '+')})" in text
    reread = interval(metrics, "cut_teacher_512_vs_teacher_accuracy_diff", "+")
    assert f"the teacher changes by {reread}, a tie" in text
    lead = interval(metrics, "cut_lr_distilled_vs_teacher_512_accuracy_diff", "+")
    assert f"the distilled LR still leads it by {lead}." in text


def test_the_whole_pool_reread_figures_are_the_committed_metrics():
    """The teacher reading 512 tokens of the reviews it cut, in the README and the results."""
    cut = json.loads((ROOT / "metrics/pool/truncation.json").read_text())
    change = interval(cut, "cut_teacher_512_vs_teacher_accuracy_diff", "+")
    lead = interval(cut, "cut_lr_distilled_vs_teacher_512_accuracy_diff", "+")
    readme = " ".join(section(README, "## Results of the committed default run").split())
    assert f"does not help it ({change})" in readme
    results = " ".join(section(RESULTS, f"## {POOL_HEADING.removeprefix('### ')}").split())
    assert f"scores {cut['cut_teacher_512_accuracy']:.3f}, no better than its own" in results
    assert f"{cut['cut_teacher_accuracy']:.3f} ({change})" in results
    assert f"the distilled LR still leads it by {lead}." in results


EXPLAIN_SECTION = "## Explanations of the committed run"
# Row start -> its figures' keys in metrics/explain.json, cell by cell from the third
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
KIND_TITLES = {"lr": "LR", "svm": "SVM", "tree": "tree"}
AGREEMENT_MEASURES = ("top5_overlap", "rank_correlation", "deletion_fidelity")


@pytest.mark.parametrize("start", [*FAITHFULNESS_ROWS, *AGREEMENT_ROWS])
def test_the_explanations_page_shows_the_committed_metrics(start):
    metrics = json.loads((ROOT / "metrics/explain.json").read_text())
    explanations = section(EXPLANATIONS, EXPLAIN_SECTION)
    cells = table_cells(explanations, start)
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
    assert f"{metrics['num_reviews']:,} test reviews drawn with the seed" in explanations


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        (README, "## Results of the committed default run"),
        (EXPLANATIONS, EXPLAIN_SECTION),
    ],
)
@pytest.mark.parametrize("kind", KIND_TITLES)
def test_distilled_minus_gold_agreement_is_the_committed_metrics_and_ties_say_so(
    path, heading, kind
):
    metrics = json.loads((ROOT / "metrics/explain.json").read_text())
    cells = table_cells(section(path, heading), f"| **distilled - gold, {KIND_TITLES[kind]}** |")
    for cell, measure in zip(cells[1:], AGREEMENT_MEASURES, strict=True):
        key = f"{kind}_distilled_vs_{kind}_baseline_{measure}_diff"
        tie = metrics[f"{key}_ci_low"] <= 0 <= metrics[f"{key}_ci_high"]
        assert cell == interval(metrics, key, "+") + (" (tie)" if tie else ""), key


def tree(path: Path, heading: str) -> set[str]:
    """Every path the tree under ``heading`` names: two spaces of indent per folder level."""
    layout = section(path, heading)
    block = layout.split("```text\n", 1)[1].split("```", 1)[0]
    folders: list[str] = []
    paths = set()
    for line in block.splitlines():
        name = line.split()[0]
        depth, indent = divmod(len(line) - len(line.lstrip(" ")), 2)
        assert not indent and depth <= len(folders), f"{path.name} tree: misplaced line {line!r}"
        folders = folders[:depth]
        paths.add("/".join([*folders, name.rstrip("/")]))
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
    return paths


def test_the_package_tree_names_every_module_of_the_package_and_no_other():
    package = ROOT / "bertdistill"
    modules = {
        str(path.relative_to(ROOT)) for path in package.rglob("*.py") if path.name != "__init__.py"
    }
    folders = {  # subpackages and the data folders they ship (templates)
        str(path.relative_to(ROOT))
        for path in package.rglob("*")
        if path.is_dir() and path.name != "__pycache__"
    }
    named = tree(DEVELOPMENT, "## Package layout")
    assert named == modules | folders | {"bertdistill"}


def test_the_readme_tree_names_every_top_level_folder_and_subpackage():
    named = tree(README, "## Repository layout")
    top = {path.split("/")[0] for path in named}
    wanted = {"bertdistill", "stages", "tests", "tools", "bench", "conf", "data", "metrics"}
    assert wanted | {"plots", "reports", "docs", "dvc.yaml", "params.yaml"} <= top
    package = ROOT / "bertdistill"
    subpackages = {
        f"bertdistill/{path.name}"
        for path in package.iterdir()
        if (path / "__init__.py").exists() or path.suffix == ".py" and path.stem != "__init__"
    }
    assert {path for path in named if path.startswith("bertdistill/")} == subpackages


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of ``path``: lowercase, punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in heading_anchors(linked), f"{page.name}: no heading for {target}"


def test_the_readme_links_every_page_of_the_docs():
    readme = README.read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{page.name})" in readme, page.name


@pytest.mark.slow
def test_the_usage_python_example_runs_on_a_built_pipeline(tiny_run):
    """The usage page's first Python block, run as written in a folder the pipeline has built:
    it prints two rows of class probabilities and the five strongest words of the first text."""
    block = section(USAGE, "## From Python").split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tiny_run, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    *probabilities, words = result.stdout.strip().splitlines()
    assert "".join(probabilities).count("[") == 3  # [[p, p] [p, p]]: two texts, two classes
    assert len(ast.literal_eval(words)) == 5
