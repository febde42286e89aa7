"""dvc.yaml lists every project module a stage runs, so a code change re-runs the stage."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# The error type and the CLI wrapper: they shape messages and exit codes, never an output.
NOT_DEPENDENCIES = {"bertdistill/errors.py"}


def project_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Files of every ``bertdistill`` module ``path`` imports, directly or not, lazily or not."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "bertdistill" or name == "bertdistill":
                continue
            module = ROOT / (name.replace(".", "/") + ".py")
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
