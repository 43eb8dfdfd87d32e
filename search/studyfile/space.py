"""Search-space entries: one distribution per dotted hyperparameter name.

Optuna's categorical choices must be scalars (None, bool, int, float, str). Study files may
also offer list choices (``model.widths: [[16, 16], [32, 32]]``); those are stored in Optuna
as their JSON text and decoded back before they reach the core config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import optuna

from core.config import check
from core.errors import ConfigError

__all__ = ["Param", "parse_param", "suggest", "encode", "decode", "to_optuna"]

_SCALAR = (type(None), bool, int, float, str)


@dataclass(frozen=True, kw_only=True)
class Param:
    """One searchable hyperparameter: ``name`` is a dotted path into the experiment config."""

    name: str
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def encoded_choices(self) -> tuple[Any, ...]:
        return tuple(encode(self, c) for c in self.choices)


def _json(choice: Any, path: str) -> str:
    # Optuna stores list/mapping choices as JSON text; dates, sets and bytes (which YAML's safe
    # loader can produce) have no JSON form and would otherwise crash json.dumps.
    try:
        return json.dumps(choice, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError):
        raise ConfigError(
            path, f"expected numbers, strings, booleans, null or lists/mappings of them, got {choice!r}"
        ) from None


def parse_param(name: str, entry: Any, path: str) -> Param:
    """One ``search_space`` entry as a :class:`Param`, from its typed form (``FloatParam``,
    ``IntParam`` or ``CategoricalParam`` of :mod:`search.studyfile.sections`, which declare the
    keys and types once); here only the checks that span keys (bounds, log, step, choices)."""
    if entry.type == "categorical":
        choices = list(entry.choices)
        encoded = [c if isinstance(c, _SCALAR) else _json(c, f"{path}.choices") for c in choices]
        check(len(set(map(repr, encoded))) == len(encoded), f"{path}.choices", "expected distinct choices")
        return Param(name=name, type="categorical", choices=tuple(choices))
    kind, low, high = entry.type, entry.low, entry.high
    check(low <= high, f"{path}.high", f"expected high >= low ({low}), got {high}")
    check(not entry.log or low > 0, f"{path}.low", f"expected low > 0 with log: true, got {low}")
    step = entry.step
    if step is not None:
        check(step > 0, f"{path}.step", f"expected step > 0, got {step}")
        check(not entry.log, f"{path}.step", "step cannot be combined with log: true")
    return Param(name=name, type=kind, low=low, high=high, log=entry.log, step=step)


def to_optuna(p: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution for ``p`` (used by grid search and for checks)."""
    if p.type == "categorical":
        return optuna.distributions.CategoricalDistribution(p.encoded_choices)
    if p.type == "int":
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.step)


def suggest(trial: optuna.Trial, p: Param) -> Any:
    """Ask ``trial`` for ``p`` and return the decoded (config-ready) value."""
    if p.type == "categorical":
        return decode(p, trial.suggest_categorical(p.name, p.encoded_choices))
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)


def encode(p: Param, value: Any) -> Any:
    """The value Optuna stores for a study-file value (a list choice becomes its JSON text)."""
    if p.type == "categorical" and not isinstance(value, _SCALAR):
        return json.dumps(value)
    return value


def decode(p: Param, value: Any) -> Any:
    """Map a stored Optuna value back to the study file's value (JSON text → list)."""
    if p.type == "categorical":
        return p.choices[p.encoded_choices.index(value)]
    return value
