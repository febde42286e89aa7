"""dvc.yaml lists every project module a stage runs, so a code change re-runs the stage."""

import ast
import fnmatch
import re
from pathlib import Path

import pytest
import yaml
from support import ROOT

from bertdistill.core.templates import TEMPLATES

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# The error type and the CLI wrapper: they shape messages and exit codes, never an output.
NOT_DEPENDENCIES = {"bertdistill/core/errors.py"}


def templates_loaded(tree: ast.AST) -> set[Path]:
    """Every file in each templates folder a module loads with a literal
    ``template_environment("<package>", ...)`` (:mod:`bertdistill.core.templates`, which loads
    ``<package>/templates/``): the templates, and the CSS and JS they include, count as imported
    with that module. The package reads no other file of its own (it writes and reads data only
    at paths a stage is given), which this relies on."""
    files = set()
    for node in ast.walk(tree):
        called = node.func if isinstance(node, ast.Call) else None
        if "template_environment" in (getattr(called, "id", None), getattr(called, "attr", None)):
            package = node.args[0].value  # a literal, positional
            files |= set((ROOT / package.replace(".", "/") / TEMPLATES).rglob("*"))
    return {path for path in files if path.is_file()}


def project_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Files of every ``bertdistill`` module ``path`` imports, directly or not, lazily or not,
    and the templates those modules load (:func:`templates_loaded`)."""
    seen = set() if seen is None else seen
    tree = ast.parse(path.read_text())
    seen |= templates_loaded(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                package = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
                module = ".".join(part for part in (package, node.module) if part)
            else:
                module = node.module or ""
            # `from bertdistill import x` may import the module bertdistill.x
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "bertdistill" or name == "bertdistill":
                continue
            module = ROOT / (name.replace(".", "/") + ".py")
            if not module.is_file():
                continue  # a name inside a module (from bertdistill.core.files import write_json)
            if module not in seen:
                seen.add(module)
                project_imports(module, seen)
    return seen


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_a_stage_imports_is_a_dependency(stage):
    script = next(word for word in STAGES[stage]["cmd"].split() if word.startswith("stages/"))
    deps = {str(dep) for dep in STAGES[stage]["deps"]}
    assert script in deps
    needed = {str(path.relative_to(ROOT)) for path in project_imports(ROOT / script)}
    assert needed - deps - NOT_DEPENDENCIES == set()


def test_the_reports_templates_count_as_imported_with_the_module_that_loads_them():
    templates = {"report.html.j2", "report.css", "report.js"}
    report = ROOT / "bertdistill/explain/report.py"
    assert {path.name for path in templates_loaded(ast.parse(report.read_text()))} == templates
    needed = {path.relative_to(ROOT) for path in project_imports(ROOT / "stages/explain.py")}
    assert {Path("bertdistill/explain/templates", name) for name in templates} <= needed
    # editing the page's wording re-runs `explain`, never `explain_teacher`
    assert {f"bertdistill/explain/templates/{name}" for name in templates} <= set(
        STAGES["explain"]["deps"]
    )


def expand_braces(token: str) -> list[str]:
    """``a/{b,c}.csv`` -> ``a/b.csv``, ``a/c.csv`` (one level, as the README writes paths)."""
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end() :]
    return [
        path for part in match.group(1).split(",") for path in expand_braces(head + part + tail)
    ]


def readme_stage_rows() -> dict[str, list[str]]:
    """The README's stage table: stage name -> every path written in its row, expanded."""
    rows = {}
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## The pipeline\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if match := re.match(r"\| `(\w+)` \|", line):
            tokens = re.findall(r"`([^`]+)`", line)[1:]
            rows[match.group(1)] = [path for token in tokens for path in expand_braces(token)]
    return rows


def test_the_readme_stage_table_matches_dvc_yaml():
    rows = readme_stage_rows()
    assert list(rows) == list(STAGES)
    for stage, definition in STAGES.items():
        outs = [
            next(iter(out)) if isinstance(out, dict) else out
            for kind in ("outs", "metrics", "plots")
            for out in definition.get(kind, [])
        ]
        for out in outs:
            if out.startswith("metrics/timings/"):
                continue  # one sentence under the table covers every stage's timing file
            written = [path.rstrip("/") for path in rows[stage]]
            assert any(
                fnmatch.fnmatch(out, path)
                or path.startswith(out + "/")
                or out.startswith(path + "/")
                for path in written
            ), f"README's `{stage}` row does not mention {out}"


def test_every_module_a_stage_lists_is_one_it_imports():
    """The reverse check: a listed module the stage does not import would re-run it for nothing."""
    for stage, definition in STAGES.items():
        script = next(word for word in definition["cmd"].split() if word.startswith("stages/"))
        listed = {str(dep) for dep in definition["deps"] if str(dep).startswith("bertdistill/")}
        needed = {str(path.relative_to(ROOT)) for path in project_imports(ROOT / script)}
        assert listed - needed == set(), f"{stage} lists modules it does not import"


def params_read(script: Path) -> set[str]:
    """The params keys a stage script reads: ``seed`` (every stage seeds from it in ``begin``),
    each ``load_section(params, "name", Cls)`` as the whole section, and with ``only=True`` as
    just the fields of ``Cls``. Stages read params only through such literal calls in their own
    script (the package takes typed sections), which this relies on."""
    from bertdistill.core import params as sections

    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    keys = {"seed"}
    for node in ast.walk(ast.parse(script.read_text())):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "load_section"):
            continue
        section = node.args[1].value
        only = any(kw.arg == "only" and kw.value.value is True for kw in node.keywords)
        if only:
            fields = getattr(sections, node.args[2].id).model_fields
            keys |= {f"{section}.{field}" for field in fields}
        else:
            keys |= {f"{section}.{key}" for key in committed[section]}
    return keys


def student_keys(command: str) -> set[str]:
    """The `distill_students` keys a student stage's fits read: the shared ones and those of the
    kinds after its ``--kinds``."""
    from bertdistill.students.fitting import KIND_KEYS, SHARED_KEYS

    words = command.split()
    after = words[words.index("--kinds") + 1 :]
    kinds = after[: next((i for i, word in enumerate(after) if word.startswith("--")), len(after))]
    return set(SHARED_KEYS).union(*(KIND_KEYS[kind] for kind in kinds))


def test_the_student_stages_fit_every_kind_once():
    from bertdistill.core.registry import KINDS

    kinds = []
    for definition in STAGES.values():
        words = definition["cmd"].split()
        if "--kinds" in words:
            after = words[words.index("--kinds") + 1 :]
            kinds += after[: next(i for i, word in enumerate(after) if word.startswith("--"))]
    assert sorted(kinds) == sorted(KINDS)


def params_listed(entries: list) -> set[str]:
    """dvc.yaml's ``params:`` entries, a section expanded to its keys in params.yaml."""
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    keys = set()
    for entry in entries:
        head, _, rest = str(entry).partition(".")
        if rest or not isinstance(committed[head], dict):
            keys.add(str(entry))
        else:
            keys |= {f"{head}.{key}" for key in committed[head]}
    return keys


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_lists_exactly_the_params_it_reads(stage):
    script = next(word for word in STAGES[stage]["cmd"].split() if word.startswith("stages/"))
    read, listed = params_read(ROOT / script), params_listed(STAGES[stage].get("params", []))
    if "--kinds" in STAGES[stage]["cmd"]:  # a student stage reads its kinds' keys only
        read = {key for key in read if not key.startswith("distill_students.")}
        read |= {f"distill_students.{key}" for key in student_keys(STAGES[stage]["cmd"])}
    assert read - listed == set(), f"{stage} reads params that dvc.yaml does not list"
    assert listed - read == set(), f"{stage} lists params it does not read (re-runs for nothing)"


def test_an_inference_change_leaves_the_fine_tuning_alone():
    listed = params_listed(STAGES["finetune_teacher"]["params"])
    assert "inference.precision" not in listed
    assert "inference.precision" in params_listed(STAGES["label_with_teacher"]["params"])


def test_the_plot_list_draws_every_model_of_the_registry():
    from bertdistill.core.registry import LINEAR_STUDENTS, MODEL_NAMES

    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    files = {title: list(next(iter(plot.values()))["y"]) for plot in plots for title in plot}
    roc = files["ROC on the test set, every model"]
    assert roc == [f"plots/evaluate/roc/{name}.csv" for name in MODEL_NAMES]
    confusion = files["Confusion matrices on the test set"]
    assert confusion == [f"plots/evaluate/confusion/{name}.csv" for name in MODEL_NAMES]
    coefficients = [path for title, paths in files.items() if "n-grams" in title for path in paths]
    assert coefficients == [f"plots/explain/coefficients/{name}.csv" for name in LINEAR_STUDENTS]
    curves = {
        plot[title]["x"]: plot[title]["y"] for plot in plots for title in plot if "Label" in title
    }
    curves |= {
        plot[title]["x"]: plot[title]["y"] for plot in plots for title in plot if "pool" in title
    }
    assert curves == {
        "train_size": {"plots/label_efficiency.csv": list(MODEL_NAMES)},
        "unlabeled_size": {"plots/unlabeled_pool.csv": list(MODEL_NAMES)},
    }


def test_the_teachers_explanations_read_no_student_report_or_statistics_code():
    """A student experiment, a report's wording or a change to how explanations are compared
    reuses the teacher's explanations from the cache."""
    deps = {str(dep) for dep in STAGES["explain_teacher"]["deps"]}
    for student_side in (
        "models/students",
        "models/trees",
        "bertdistill/students/models.py",
        "bertdistill/evaluation/statistics.py",
        "bertdistill/explain/report.py",
        "bertdistill/explain/measures.py",
        "bertdistill/explain/student_run.py",
    ):
        assert student_side not in deps
    assert not [dep for dep in deps if dep.startswith("bertdistill/explain/templates/")]
    listed = params_listed(STAGES["explain_teacher"]["params"])
    assert not listed & {"explain.top_k", "explain.bootstrap_resamples", "distill_students.seeds"}
    assert "data/teacher_explanations" in {str(dep) for dep in STAGES["explain"]["deps"]}


def test_every_artifact_is_a_model_a_stage_writes():
    """`artifacts:` name the models for DVC's model registry: each path is a stage's output,
    each has a type and a description, and every model folder a stage writes is one."""
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    outs = {
        next(iter(out)) if isinstance(out, dict) else out
        for stage in STAGES.values()
        for out in stage.get("outs", [])
    }
    assert {entry["path"] for entry in artifacts.values()} == {
        out for out in outs if out.startswith("models/") and not out.endswith("_seeds")
    }
    for name, entry in artifacts.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert entry["type"] == "model" and entry["desc"].strip(), name
