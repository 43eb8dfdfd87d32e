"""The report's bound warning: a best trial pressed against a search-space bound.

A numeric parameter is flagged on a side when the best completed trial, or a majority of the top
5 (3 of 5; 2 of 3 when only 3 are done), lies within 5 % of the range from that bound, measured
in log space for ``log: true``. The suggested range for the next night widens each flagged side
by one more range width (log: divides the low bound, or multiplies the high one, by high/low),
keeps the other side, rounds ints outward and stays inside what the experiment accepts: a
``low >= 0`` range does not cross zero, an int log range keeps ``low >= 1``, and a bound the
experiment's config refuses is not suggested (``allowed``). A categorical of three or more
numbers is checked at its smallest and largest choice (:mod:`search.report.bound_choices`);
other categoricals are not.

:func:`bound_flags` is pure (a search space, ``(params, value)`` pairs, a direction);
:func:`bounds_section` turns a study's completed trials into the report's Markdown lines, which
are also the dashboard note's (one source).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.config import replace_path
from core.errors import ConfigError
from search.report.bound_choices import choice_flags, choice_line, choice_yaml, ordered
from search.studyfile import Param

__all__ = ["MARGIN", "TOP", "BoundFlag", "bound_flags", "bounds_section", "suggestion_yaml"]

MARGIN = 0.05  # fraction of the range (in log space for log: true) that counts as "at the bound"
TOP = 5  # the top trials that may outvote a best trial away from the bound
_SIDES = ("low", "high")
_PCT = f"{100 * MARGIN:g} %"


@dataclasses.dataclass(frozen=True)
class BoundFlag:
    """One parameter at a bound: which sides, the evidence, and the range to try next."""

    param: Param
    sides: tuple[str, ...]  # "low" and/or "high"
    best: Any  # the best trial's value of the parameter
    near: dict[str, int]  # side -> how many of the top trials lie within MARGIN of it
    n_top: int
    suggested: Param | None  # None: no flagged side can be widened (a hard limit of the experiment)
    limited: dict[str, str] = dataclasses.field(default_factory=dict)  # side -> why it is not widened


def _position(p: Param, value: Any) -> float | None:
    """Where ``value`` lies in ``p``'s range: 0 at low, 1 at high (log space for log: true)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    if p.log:
        if value <= 0:
            return None
        low, high, value = math.log(p.low), math.log(p.high), math.log(value)
    else:
        low, high = p.low, p.high
    return (value - low) / (high - low)


def _side(position: float | None) -> str | None:
    if position is None:
        return None
    return "low" if position <= MARGIN else "high" if position >= 1 - MARGIN else None


def _candidates(p: Param, side: str) -> list[float]:
    """New values for the ``side`` bound, the preferred first."""
    bound, other = (p.low, p.high) if side == "low" else (p.high, p.low)
    if p.log:
        return [bound * bound / other]  # one more span: low / (high/low), high * (high/low)
    wider = bound - (other - bound)
    if (bound >= 0 > wider) or (bound <= 0 < wider):  # a range on one side of zero stays there
        return [0.0] + ([bound / 2] if bound != 0 else [])
    return [wider]


def _rounded(p: Param, side: str, value: float) -> float | int:
    """``value`` as a bound of ``p``: ints and steps rounded outward onto their grid (but not across
    zero), int log bounds outward and at least 1, floats to 6 significant digits."""
    bound = p.low if side == "low" else p.high
    if p.step is not None or (p.type == "int" and not p.log):
        step, sign = p.step or 1, -1 if side == "low" else 1
        n = math.ceil(abs(bound - value) / step - 1e-9)
        new = bound + sign * n * step
        if (bound >= 0 > new) or (bound <= 0 < new):
            new -= sign * step
        return int(round(new)) if p.type == "int" else float(f"{new:.6g}")
    if p.type == "int":
        return max(1, math.floor(value)) if side == "low" else math.ceil(value)
    return float(f"{value:.6g}")


def _widened(p: Param, side: str, allowed: Callable[[Param, Any], bool]) -> tuple[float | int | None, str]:
    """The new ``side`` bound, or None and why it cannot move."""
    bound, why = (p.low if side == "low" else p.high), "the range stays on its side of zero"
    if p.type == "int" and p.log and side == "low":
        why = "an int log range starts at 1 at the lowest"
    for value in _candidates(p, side):
        new = _rounded(p, side, value)
        if not (new < bound if side == "low" else new > bound):
            continue
        if allowed(p, new):
            return new, ""
        why = f"the experiment refuses {p.name} = {_yaml_number(p, new)}"
    return None, why


def _accept_all(p: Param, value: Any) -> bool:
    return True


def bound_flags(
    space: Sequence[Param],
    trials: Sequence[tuple[Mapping[str, Any], float]],
    direction: str,
    allowed: Callable[[Param, Any], bool] = _accept_all,
) -> list[BoundFlag]:
    """The numeric parameters of ``space`` whose best trial (or most of the top :data:`TOP`) sits
    at a bound, in ``space`` order. ``trials`` are completed ``(params, objective value)`` pairs;
    ``direction`` is ``"minimize"`` or ``"maximize"``; ``allowed(param, value)`` says whether the
    experiment accepts ``value`` as that parameter (a refused widening is not suggested)."""
    ranked = _ranked(trials, direction)
    if not ranked:
        return []
    majority = len(ranked) // 2 + 1
    flags = []
    for p in space:
        if p.type == "categorical" or p.high <= p.low:
            continue
        sides_of = [_side(_position(p, params.get(p.name))) for params, _ in ranked]
        near = {s: sides_of.count(s) for s in _SIDES}
        sides = tuple(s for s in _SIDES if sides_of[0] == s or near[s] >= majority)
        if not sides:
            continue
        new = {s: _widened(p, s, allowed) for s in sides}
        widen = {s: v for s, (v, _) in new.items() if v is not None}
        suggested = dataclasses.replace(p, **widen) if widen else None
        limited = {s: why for s, (v, why) in new.items() if v is None}
        flags.append(BoundFlag(p, sides, ranked[0][0].get(p.name), near, len(ranked), suggested, limited))
    return flags


def _ranked(trials: Sequence[tuple[Mapping[str, Any], float]], direction: str) -> list[tuple[Mapping[str, Any], float]]:
    """The top :data:`TOP` of the trials with a finite value, best first."""
    finite = [(params, v) for params, v in trials if isinstance(v, (int, float)) and math.isfinite(v)]
    return sorted(finite, key=lambda pv: pv[1], reverse=direction == "maximize")[:TOP]


def _yaml_number(p: Param, value: float | int) -> str:
    """A number PyYAML's safe loader reads back as one (``1e-05`` would be a string; ``1.0e-05`` is not)."""
    if p.type == "int":
        return str(int(value))
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    return ("." in mantissa and text) or f"{mantissa}.0{e}{exponent}"


def suggestion_yaml(p: Param) -> str:
    """``p`` as one search_space line of a study file, e.g.
    ``train.lr: {type: float, low: 0.0003, high: 0.1, log: true}``."""
    fields = [f"type: {p.type}", f"low: {_yaml_number(p, p.low)}", f"high: {_yaml_number(p, p.high)}"]
    fields += ["log: true"] if p.log else []
    fields += [f"step: {_yaml_number(p, p.step)}"] if p.step is not None else []
    return f"{p.name}: {{{', '.join(fields)}}}"


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _flag_line(f: BoundFlag) -> str:
    p = f.param
    scale = " (log scale)" if p.log else ""
    sides = " and ".join(f"{s} bound {_yaml_number(p, getattr(p, s))}" for s in f.sides)
    evidence = "; ".join(f"{f.near[s]} of the top {f.n_top} at the {s} bound" for s in f.sides)
    line = f"- `{p.name}` is at its {sides}{scale}: best trial's value {_shown(f.best)}; {evidence}."
    line += "".join(f" The {s} bound stays: {why}." for s, why in f.limited.items())
    return line


def _allowed_by(config: Any) -> Callable[[Param, Any], bool]:
    """The study file's own check of a bound (search.studyfile.spec probes both): it must make a valid config."""

    def allowed(p: Param, value: Any) -> bool:
        try:
            replace_path(config, p.name, value)
        except ConfigError:
            return False
        return True

    return allowed


def bounds_section(spec: Any, done: Sequence[Any]) -> list[str]:
    """The "Search-space bounds" Markdown section for a study's completed trials (FrozenTrial-like:
    ``params`` and ``values``), ranked by its first objective."""
    metric, direction = spec.study.metrics[0], spec.study.directions[0]
    plain = [p for p in spec.search_space if p.type != "categorical"]
    numeric = [*plain, *(p for p in spec.search_space if ordered(p) is not None)]
    head = ["## Search-space bounds", ""]
    if not numeric:
        return [*head, "No numeric parameter in the search space (categorical ones are not checked)."]
    if not done:
        return [*head, "No completed trial yet, so no bound to check."]
    trials = [(t.params, t.values[0]) for t in done]
    allowed = _allowed_by(spec.experiment)
    flags = bound_flags(spec.search_space, trials, direction, allowed)
    choices = choice_flags(spec.search_space, _ranked(trials, direction), allowed)
    n = min(TOP, len(done))
    if not flags and not choices:
        return [
            *head,
            f"No best trial sits at a bound: for none of the {len(numeric)} numeric parameters is the best "
            f"trial by `{metric}`, or most of the top {n}, within {_PCT} of a bound"
            + (" (a categorical of numbers: at its smallest or largest choice)." if len(numeric) > len(plain) else "."),
        ]
    lines = [
        *head,
        f"Flagged: the best trial by `{metric}` ({direction}), or most of the top {n}, lies within {_PCT} of "
        "the range from a bound (in log space for log: true), or took a categorical's smallest or largest "
        "number, so the best value may lie beyond it.",
        "",
        *(_flag_line(f) for f in flags),
        *(choice_line(f) for f in choices),
    ]
    pasted = [suggestion_yaml(f.suggested) for f in flags if f.suggested is not None]
    added: dict[str, tuple[Param, list]] = {}  # a parameter flagged at both ends gets one line
    for f in choices:
        if f.added is not None:
            added.setdefault(f.param.name, (f.param, []))[1].append(f.added)
    pasted += [choice_yaml(param, values) for param, values in added.values()]
    if pasted:
        lines += ["", "Next night's range (paste into the study file's `search_space`):", "", "```yaml"]
        lines += [*pasted, "```"]
    return lines
