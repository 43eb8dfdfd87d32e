"""The bound warning for ordered categorical parameters: the best trials took the last choice.

A categorical parameter whose choices are three or more distinct real numbers (``imp.rewind_step:
[0, 20, 100]``, a weight decay offered as ``[0, 1e-5, 1e-4]``) is an ordered range in disguise,
and its smallest and largest choices are bounds: when the best completed trial, or a majority of
the top 5 (the numeric check's rule, :mod:`search.report.bounds`), took one of them, the best
value may lie beyond it. The suggestion adds one choice past that end, one more step of the
same kind as the last one: geometric when both end choices have the same sign and are non-zero
(100 after 20 → 500), arithmetic otherwise; it never crosses zero (a range of choices ≥ 0 stays
≥ 0, so 0 as the smallest choice is a limit, not a bound to widen) and the experiment must accept
the new value. Choices that are lists, strings or booleans have no order here and are not checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from search.studyfile import Param

__all__ = ["ChoiceFlag", "choice_flags", "choice_line", "choice_yaml", "ordered"]


@dataclasses.dataclass(frozen=True)
class ChoiceFlag:
    """One ordered categorical at its smallest or largest choice, and the choice to add next."""

    param: Param
    side: str  # "low" (smallest choice) or "high" (largest)
    end: float | int  # that choice
    best: Any
    near: int  # how many of the top trials took that end
    n_top: int
    added: float | int | None  # the choice to offer next; None when the end is a limit
    limited: str = ""  # why nothing is added


def ordered(p: Param) -> list[float] | None:
    """``p``'s choices sorted, when it is a categorical of three or more distinct real numbers."""
    values = p.choices if p.type == "categorical" else ()
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(set(values)) if numeric and len(set(values)) >= 3 else None


def _beyond(end: float, inner: float) -> float | int | None:
    """One more step past ``end`` (the inner neighbour is ``inner``), or None across zero."""
    if end != 0 and inner != 0 and (end > 0) == (inner > 0):
        new = end * end / inner
    else:
        new = end + (end - inner)
    if (end >= 0 > new) or (end <= 0 < new) or new == end:
        return None
    return (
        int(new) if isinstance(end, int) and isinstance(inner, int) and float(new).is_integer() else float(f"{new:.6g}")
    )


def choice_flags(
    space: Sequence[Param],
    ranked: Sequence[tuple[Mapping[str, Any], float]],
    allowed: Callable[[Param, Any], bool],
) -> list[ChoiceFlag]:
    """The ordered categoricals of ``space`` at an end; ``ranked``: the top trials, best first."""
    if not ranked:
        return []
    majority = len(ranked) // 2 + 1
    flags = []
    for p in space:
        values = ordered(p)
        if values is None:
            continue
        taken = [params.get(p.name) for params, _ in ranked]
        for side, end, inner in (("low", values[0], values[1]), ("high", values[-1], values[-2])):
            near = sum(1 for v in taken if v == end)
            if taken[0] != end and near < majority:
                continue
            added, why = _beyond(end, inner), "the choices stay on their side of zero"
            if added is not None and not allowed(p, added):
                added, why = None, f"the experiment refuses {p.name} = {added}"
            flags.append(ChoiceFlag(p, side, end, taken[0], near, len(ranked), added, "" if added is not None else why))
    return flags


def choice_line(f: ChoiceFlag) -> str:
    """The report's line for one flag."""
    which = "smallest" if f.side == "low" else "largest"
    line = (
        f"- `{f.param.name}` is at its {which} choice {f.end!r} (categorical): best trial's value {f.best!r}; "
        f"{f.near} of the top {f.n_top} took it."
    )
    return line + (f" Next: offer {f.added!r} too." if f.added is not None else f" It stays: {f.limited}.")


def choice_yaml(p: Param, added: Sequence[float | int]) -> str:
    """``p`` as a search_space line with ``added`` among its choices, in order."""
    # PyYAML writes 1e-5 as 1.0e-05, which its loader reads back as a number (1e-05 would be a string).
    choices = yaml.safe_dump(sorted({*ordered(p), *added}), default_flow_style=True)
    return f"{p.name}: {{type: categorical, choices: {choices.strip()}}}"
