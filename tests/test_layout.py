"""The repository's shape: import-free package folders, tests that mirror the package, and test
helpers in one support module."""

import ast

from support import ROOT

PACKAGE = ROOT / "bertdistill"
TESTS = ROOT / "tests"


def imported_modules(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_package_folders_import_nothing():
    """An import in an __init__.py would make every stage that reads one module of the folder
    depend on the others, unseen by dvc.yaml's deps."""
    for init in PACKAGE.rglob("__init__.py"):
        assert imported_modules(init) <= {"__future__"}, init


def test_every_subpackage_has_its_test_folder():
    subpackages = {init.parent.name for init in PACKAGE.glob("*/__init__.py")}
    test_folders = {
        path.name for path in TESTS.iterdir() if path.is_dir() and any(path.glob("test_*.py"))
    }
    assert subpackages <= test_folders


def test_test_modules_share_helpers_through_support_only():
    test_modules = {path.stem for path in TESTS.rglob("test_*.py")}
    for path in TESTS.rglob("*.py"):
        imported = {name.split(".")[0] for name in imported_modules(path)}
        assert not imported & (test_modules | {"conftest"}), path
