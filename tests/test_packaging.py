"""The package as others install it: dependency ranges that hold the pinned set, extras, the
console script, type hints, licence and citation."""

import importlib
import re
import tomllib

import yaml
from packaging.requirements import Requirement
from support import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEVELOPMENT = {"ruff", "pytest", "hypothesis", "packaging"}  # the `dev` extra
INDIRECT = {"pydantic-core"}  # pinned beside pydantic, which requires it: not declared


def pins(path: str) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line of a requirements file."""
    found = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[canonical(name)] = version.strip()
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, Requirement]:
    """Every dependency pyproject.toml declares, the base set and every extra's."""
    texts = list(PROJECT["dependencies"])
    texts += [text for extra in PROJECT["optional-dependencies"].values() for text in extra]
    requirements = [Requirement(text) for text in texts]
    return {canonical(r.name): r for r in requirements if canonical(r.name) != "bertdistill"}


def test_the_pinned_set_falls_in_the_declared_ranges():
    """The pipeline's pins (requirements.txt) satisfy the ranges; every base dependency is
    pinned (an extra's may not be, e.g. shap for one benchmark)."""
    pinned = pins("requirements.txt")
    base = {canonical(Requirement(text).name) for text in PROJECT["dependencies"]}
    assert base - set(pinned) == set()
    for name, requirement in declared().items():
        if name in pinned:
            version = pinned[name].split("+")[0]
            assert requirement.specifier.contains(version, prereleases=True), (name, version)


def test_every_direct_dependency_is_declared():
    direct = set(pins("requirements.in")) - {canonical(name) for name in DEVELOPMENT | INDIRECT}
    base = {canonical(Requirement(text).name) for text in PROJECT["dependencies"]}
    assert direct - set(declared()) == set()
    assert {"torch", "transformers", "dvc", "scikit-learn", "lime", "pandas", "pyyaml"} <= base


def test_the_console_script_has_a_name_of_its_own_and_runs_predict():
    scripts = PROJECT["scripts"]
    assert list(scripts) == ["bertdistill-predict"]
    module, function = scripts["bertdistill-predict"].split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_type_hints_licence_and_citation_ship():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in package_data["package-data"]["bertdistill"]
    assert (ROOT / "bertdistill/py.typed").is_file()
    assert PROJECT["license"] in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    cited = {reference["title"] for reference in citation["references"]}
    assert "Distilling knowledge from BERT into Simpler Machine Learning Models" in cited
