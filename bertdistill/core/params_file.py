"""Reading ``params.yaml`` (as DVC reads it) and building a section's typed view from it:
unknown, missing and mistyped keys are one clear error naming the key."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.error import MarkedYAMLError

from bertdistill.core.errors import UserError, not_utf8

Section = TypeVar("Section", bound=BaseModel)


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
        data = YAML(typ="safe", pure=True).load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except YAMLError as error:
        raise UserError(yaml_error(path, error)) from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping of sections, got {type(data).__name__}")
    return data


def yaml_error(path: Path, error: YAMLError) -> str:
    """ruamel's multi-line complaint as one line: the file, where, the problem and what it was
    reading there (a list that is never closed is found at the end of the file)."""
    if not isinstance(error, MarkedYAMLError) or error.problem_mark is None:
        return f"{path} is not valid YAML: {' '.join(str(error).split())}"
    mark = error.problem_mark
    message = (
        f"{path} is not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
        f"{error.problem}"
    )
    if error.context and error.context_mark is not None:
        start = error.context_mark
        message += f" ({error.context} at line {start.line + 1})"
    return message


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
    section: type[BaseModel] | None = None,
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
    if not isinstance(raw, dict):
        raise UserError(f"params section '{name}' must be a mapping, got {raw!r}")
    if section is not None:
        unknown = sorted(set(raw) - set(section.model_fields))
        if unknown:
            valid = ", ".join(sorted(section.model_fields))
            raise UserError(f"unknown params key '{name}.{unknown[0]}': valid keys are {valid}")
    if only:
        raw = {key: value for key, value in raw.items() if key in cls.model_fields}
    try:
        return cls.model_validate(raw)
    except ValidationError as error:
        # the one error shown: an unknown key first (by name), then a missing one, then in order
        rank = {"extra_forbidden": 0, "missing": 1}
        first = min(
            error.errors(include_url=False),
            key=lambda e: (
                rank.get(e["type"], 2),
                e["loc"] if e["type"] == "extra_forbidden" else (),
            ),
        )
        raise UserError(_message(first, name, cls)) from None


_WORDS = {  # pydantic's error types whose words need no value
    "missing": "is missing: add it to params.yaml",
    "too_short": "must list at least one value",
    "string_pattern_mismatch": "must not be empty",
}
_UNIONS = (typing.Union, types.UnionType)  # Optional[X] and X | None


def _message(error: ErrorDetails, name: str, cls: type[BaseModel]) -> str:
    """Pydantic's complaint about one value, in the project's words: one line naming the key."""
    loc, kind, value = error["loc"], error["type"], error["input"]
    key = name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    if kind == "extra_forbidden":
        valid = ", ".join(sorted(_at(cls, loc[:-1])[0].model_fields))
        return f"unknown params key '{key}': valid keys are {valid}"
    annotation, metadata = _at(cls, loc)
    if kind in _WORDS:
        rule = _WORDS[kind]
    elif kind == "value_error":  # a key's own rule (params.py): its ValueError gives the fix
        rule = f"is {value!r}: {error['ctx']['error']}"
    elif kind.startswith(("greater_than", "less_than")):
        # all of the key's bounds ([0, 1], not just the one broken); a list item's from pydantic
        bounds = {
            b: getattr(m, b) for m in metadata for b in ("gt", "ge", "lt", "le") if hasattr(m, b)
        }
        rule = f"{_range(bounds or error['ctx'])}, got {value}"
    else:
        rule = f"must be {_kind(annotation)}, got {value!r}"
    return f"params key '{key}' {rule}"


def _at(cls: type[BaseModel], loc: tuple) -> tuple[Any, list]:
    """The type at ``loc`` in ``cls`` (a key, a nested section's key, a list item) and the
    constraints declared on it (Ge, Lt, ...)."""
    annotation, metadata = cls, []
    for part in loc:
        while typing.get_origin(annotation) in (Annotated, *_UNIONS):  # to the bare type
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if isinstance(part, str):
            field = annotation.model_fields[part]
            annotation, metadata = field.annotation, field.metadata
        else:
            annotation, metadata = typing.get_args(annotation)[0], []
    return annotation, metadata


def _kind(annotation: Any) -> str:
    """What a value of ``annotation`` must be, in words: 'int or null', 'one of a, b'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return f"one of {', '.join(args)}"
    if origin is Annotated:
        return _kind(args[0])
    if origin in _UNIONS:
        return " or ".join("null" if arg is type(None) else _kind(arg) for arg in args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    return annotation.__name__


def _range(bounds: dict[str, float]) -> str:
    """Bounds in words: 'must be positive', 'must be 8 or more', 'must be in [0, 1)'."""
    if bounds in ({"gt": 0}, {"ge": 0}):
        return "must be positive" if "gt" in bounds else "must not be negative"
    low = f"[{bounds['ge']}" if "ge" in bounds else f"({bounds['gt']}"
    if "lt" not in bounds and "le" not in bounds:
        return f"must be {low[1:]} or more" if "ge" in bounds else f"must be more than {low[1:]}"
    high = f"{bounds['le']}]" if "le" in bounds else f"{bounds['lt']})"
    return f"must be in {low}, {high}"
