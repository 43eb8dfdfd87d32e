"""Samplers and pruners by name, as study files write them.

``sampler: {name: tpe, seed: 0, n_startup_trials: 5}``: every key except ``name`` (and
``seed`` where the sampler has none) is passed to the Optuna constructor, so each of
Optuna's own arguments is reachable from YAML. ``patient`` wraps another pruner:
``pruner: {name: patient, patience: 2, wrapped: {name: median}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna

from core.errors import ConfigError
from core.registry import Registry

__all__ = ["SAMPLERS", "PRUNERS", "make_sampler", "make_pruner"]

SAMPLERS: Registry[Callable[..., optuna.samplers.BaseSampler]] = Registry("sampler")
PRUNERS: Registry[Callable[..., optuna.pruners.BasePruner]] = Registry("pruner")

SAMPLERS.register("tpe")(optuna.samplers.TPESampler)
SAMPLERS.register("random")(optuna.samplers.RandomSampler)
SAMPLERS.register("cmaes")(optuna.samplers.CmaEsSampler)
SAMPLERS.register("gp")(optuna.samplers.GPSampler)
SAMPLERS.register("nsga2")(optuna.samplers.NSGAIISampler)
SAMPLERS.register("nsga3")(optuna.samplers.NSGAIIISampler)
SAMPLERS.register("qmc")(optuna.samplers.QMCSampler)
SAMPLERS.register("grid")(optuna.samplers.GridSampler)
SAMPLERS.register("bruteforce")(optuna.samplers.BruteForceSampler)

PRUNERS.register("median")(optuna.pruners.MedianPruner)
PRUNERS.register("percentile")(optuna.pruners.PercentilePruner)
PRUNERS.register("successive_halving")(optuna.pruners.SuccessiveHalvingPruner)
PRUNERS.register("hyperband")(optuna.pruners.HyperbandPruner)
PRUNERS.register("wilcoxon")(optuna.pruners.WilcoxonPruner)
PRUNERS.register("threshold")(optuna.pruners.ThresholdPruner)
PRUNERS.register("none")(optuna.pruners.NopPruner)


@PRUNERS.register("patient")
def _patient(*, wrapped: Mapping[str, Any] | None = None, patience: int = 1, min_delta: float = 0.0):
    inner = make_pruner(wrapped or {"name": "none"}, "study.pruner.wrapped")
    return optuna.pruners.PatientPruner(inner, patience=patience, min_delta=min_delta)


def _split(raw: Any, path: str) -> tuple[str, dict[str, Any]]:
    if isinstance(raw, str):
        return raw, {}
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise ConfigError(path, f"expected a name or a mapping with 'name', got {raw!r}")
    args = dict(raw)
    return args.pop("name"), args


def _construct(factory: Callable[..., Any], args: dict[str, Any], path: str) -> Any:
    try:
        return factory(**args)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001  any constructor failure on arguments from a file is bad input
        # (Optuna raises TypeError/ValueError mostly, but also AttributeError, KeyError, ... on odd values)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(path, f"invalid arguments {args!r}: {first}") from None


def make_sampler(
    raw: Any, grid: Mapping[str, Sequence[Any]] | None = None, path: str = "study.sampler"
) -> optuna.samplers.BaseSampler:
    """Build the named sampler; ``grid`` is the categorical search space, used by ``grid``."""
    name, args = _split(raw, path)
    factory = SAMPLERS.get(name, f"{path}.name")
    if name == "grid":
        if grid is None:
            raise ConfigError(path, "grid sampling needs every search_space entry to be categorical")
        if "search_space" in args:
            raise ConfigError(f"{path}.search_space", "unknown key; the grid is the study's search_space")
        args = {"search_space": {k: list(v) for k, v in grid.items()}, **args}
    return _construct(factory, args, path)


def make_pruner(raw: Any, path: str = "study.pruner") -> optuna.pruners.BasePruner:
    """Build the named pruner with its keyword arguments."""
    name, args = _split(raw, path)
    return _construct(PRUNERS.get(name, f"{path}.name"), args, path)
