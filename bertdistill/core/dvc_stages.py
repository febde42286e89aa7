"""The pipeline's stage commands as `dvc.yaml` writes them, for code that runs a stage without
DVC: the tests and the benchmarks (no stage imports this)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import yaml

from bertdistill.core.errors import UserError


def stage_command(root: Path, name: str, *launcher: str) -> list[str]:
    """Stage ``name``'s ``cmd`` from ``root``/dvc.yaml as an argument list: ``${launcher}`` becomes
    this interpreter (``launcher`` adds e.g. torchrun's arguments), the script is read from
    ``root`` and the other paths stay relative to the folder the command runs in."""
    pipeline = root / "dvc.yaml"
    stages = yaml.safe_load(pipeline.read_text(encoding="utf-8"))["stages"]
    if name not in stages:
        raise UserError(f"{pipeline} has no stage '{name}'")
    command = stages[name]["cmd"].replace("${launcher}", "python")
    if "${" in command:
        raise UserError(
            f"{pipeline}: stage {name}'s cmd uses a variable other than ${{launcher}}, which "
            "only DVC can fill in: run it with `dvc repro`"
        )
    words = shlex.split(command)
    # a stage runs its own script, or one it shares (distill_trees runs distill_students.py)
    if len(words) < 2 or words[0] != "python" or not words[1].startswith("stages/"):
        raise UserError(f"{pipeline}: stage {name}'s cmd should start `python stages/<script>.py`")
    return [sys.executable, *launcher, str(root / words[1]), *words[2:]]
