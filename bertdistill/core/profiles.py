"""Profiles: named sets of settings (conf/profiles/<name>.yaml) applied to params.yaml as the
`-S section.key=value` overrides DVC takes, so params.yaml stays the one file of settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bertdistill.core.errors import UserError
from bertdistill.core.params_file import read_yaml_mapping

ROOT = Path(__file__).resolve().parents[2]  # the repository: bertdistill/core/profiles.py
PROFILES_DIR = ROOT / "conf" / "profiles"


def load_profile(name: str, folder: Path = PROFILES_DIR) -> dict[str, Any]:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise UserError(f"no profile {path}: known profiles are {known}")
    return read_yaml_mapping(path)


def overrides(profile: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"prepare": {"test_size": None}}`` -> ``["prepare.test_size=null"]``, in file order."""
    result = []
    for key, value in profile.items():
        if isinstance(value, dict):
            result += overrides(value, f"{prefix}{key}.")
        else:
            result.append(f"{prefix}{key}={_literal(value)}")
    return result


def _literal(value: Any) -> str:
    """A value as DVC's `-S` (Hydra's override grammar) reads it back."""
    if isinstance(value, list):
        return "[" + ",".join(_literal(item) for item in value) + "]"
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return str(value)


def shell_flags(settings: list[str]) -> str:
    """``-S a=1 -S b=x`` for ``dvc exp run $(...)``: a setting the shell would split or expand
    there (spaces, quotes, glob characters) is refused, since quotes inside ``$(...)`` are not
    re-read by the shell."""
    for setting in settings:
        if re.search(r"[\s'\"*?\[\]$`\\]", setting):
            raise UserError(
                f"profile setting {setting!r} does not survive the shell as a flag: apply the "
                f"profile with `python tools/profile_args.py NAME --apply`, then `dvc exp run`"
            )
    return " ".join(f"-S {setting}" for setting in settings)


def check_keys(profile: dict[str, Any], params: dict[str, Any], where: str = "") -> None:
    """Every key a profile sets exists in params.yaml: a typo fails here, not in a stage."""
    for key, value in profile.items():
        name = f"{where}{key}"
        if not isinstance(params, dict) or key not in params:
            raise UserError(f"profile key '{name}' is not in params.yaml: fix its name")
        if isinstance(value, dict):
            check_keys(value, params[key], f"{name}.")


def apply(params_file: Path, settings: list[str]) -> None:
    """Edit ``params_file`` in place as `dvc exp run -S` does (comments and order kept)."""
    from dvc.utils.hydra import apply_overrides

    apply_overrides(params_file, settings)
