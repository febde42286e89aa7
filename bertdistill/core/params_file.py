"""Reading ``params.yaml`` (as DVC reads it) and building a section's typed view from it:
unknown, missing and mistyped keys are one clear error naming the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML, YAMLError

from bertdistill.core.errors import UserError

Section = TypeVar("Section")


def load_params(path: str | Path) -> dict[str, Any]:
    """Read ``params.yaml``; a missing or malformed file is a one-line user error."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"params file {path} not found: run from the project root or pass --params")
    return read_yaml_mapping(path)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping, read as DVC reads params (YAML 1.2: `dvc exp run -S
    lr=2e-5` stores `2e-05`, a float there but a string under PyYAML's 1.1 rules); a malformed
    file is a one-line user error."""
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping of sections, got {type(data).__name__}")
    return data


def load_seed(params: dict[str, Any]) -> int:
    seed = params.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"params key 'seed' must be a non-negative integer, got {seed!r}")
    return seed


def load_section(
    params: dict[str, Any],
    name: str,
    cls: type[Section],
    only: bool = False,
    section: type | None = None,
) -> Section:
    """Build section ``name`` as ``cls``; unknown (typo), missing and mistyped keys fail.

    With ``only``, ``cls`` is a part of the section: its keys are read, the others ignored (a
    stage that reads two keys of a section lists just those in ``dvc.yaml``). With ``section``
    (the whole section's class) a key that belongs to no part of it still fails as a typo: only
    the names of the other keys are looked at, never their values.
    """
    if name not in params:
        raise UserError(f"params section '{name}' is missing from params.yaml")
    raw = params[name]
    if section is not None and isinstance(raw, dict):
        known = {field.name for field in dataclasses.fields(section)}
        unknown = sorted(set(raw) - known)
        if unknown:
            valid = ", ".join(sorted(known))
            raise UserError(f"unknown params key '{name}.{unknown[0]}': valid keys are {valid}")
    if only and isinstance(raw, dict):
        wanted = {field.name for field in dataclasses.fields(cls)}
        raw = {key: value for key, value in raw.items() if key in wanted}
    return _build(raw, name, cls)


def _build(raw: Any, name: str, cls: type[Section]) -> Section:
    if not isinstance(raw, dict):
        raise UserError(f"params section '{name}' must be a mapping, got {raw!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UserError(
            f"unknown params key '{name}.{unknown[0]}': valid keys are {', '.join(sorted(fields))}"
        )
    values = {}
    for key, field in fields.items():
        if key not in raw:
            if field.default is dataclasses.MISSING:
                raise UserError(f"params key '{name}.{key}' is missing: add it to params.yaml")
            continue
        values[key] = _coerce(raw[key], hints[key], f"{name}.{key}")
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(value, key, hint)
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    sequences = [kind for kind in allowed if typing.get_origin(kind) is tuple]
    if sequences:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise UserError(f"params key '{key}' must list at least one value")
        element = typing.get_args(sequences[0])[0]
        return tuple(_coerce(item, element, f"{key}[{i}]") for i, item in enumerate(values))
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)
    raise UserError(f"params key '{key}' must be {names}, got {value!r}")
