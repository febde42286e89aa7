"""The types of ``params.yaml``'s keys and the base of every section model
(:mod:`bertdistill.core.params`): candidate lists, class names, resample counts, job counts,
size budgets. A key's own rule that is no range raises ValueError with the fix, which
:func:`bertdistill.core.params_file.load_section` words as "params key 'section.key' is
<value>: <fix>"."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MIN_RESAMPLES = 1000  # fewer leave the 2.5% tails of a bootstrap to a handful of resamples


def _listed(value: object) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _list_of(item: object) -> object:
    """A key listing ``item`` values: a YAML list, or one value (a candidate list: no search)."""
    return Annotated[tuple[item, ...], BeforeValidator(_listed), Field(min_length=1)]


def _distinct_names(names: tuple[str, ...]) -> tuple[str, ...]:
    keys = {name.strip().lower() for name in names}
    if len(names) < 2 or len(keys) < len(names) or not all(name.strip() for name in names):
        raise ValueError(
            "list two or more distinct class names in id order, or leave it empty for "
            "negative/positive"
        )
    return names


def _enough_resamples(resamples: int) -> int:
    if resamples < MIN_RESAMPLES:
        fix = f"a 95% percentile interval needs at least {MIN_RESAMPLES:,} resamples, raise it"
        raise ValueError(fix)
    return resamples


def _job_count(n_jobs: int) -> int:
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError("give a count of processes (1 or more), or -1 for one per core")
    return n_jobs


Name = Annotated[str, Field(pattern=r"\S")]  # a name or column: not empty or blank
Classes = Annotated[_list_of(str), AfterValidator(_distinct_names)]
FloatCandidates = _list_of(Annotated[float, Field(gt=0)])
IntCandidates = _list_of(Annotated[int, Field(gt=0)])
Resamples = Annotated[int, AfterValidator(_enough_resamples)]
JobCount = Annotated[int, AfterValidator(_job_count)]


class Section(BaseModel):
    """A section of ``params.yaml`` or the part a stage reads: read-only, unknown keys fail, values
    are taken as written (strict: no "5" or 5.0 or true for 5; an int is a float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _ascending(budgets: tuple[int, ...]) -> tuple[int, ...]:
    if list(budgets) != sorted(set(budgets)):
        raise ValueError("list distinct budgets, smallest first")
    return budgets


Budgets = Annotated[IntCandidates, AfterValidator(_ascending)]  # distinct, smallest first
