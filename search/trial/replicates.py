"""Seed replicates: a trial evaluates its configuration on S seeds (``study.replicates: S``).

"Seeds are replicates, not hyperparameters" (docs/definitions.md): a configuration is judged by the mean
over seeds ``config.seed, config.seed + 1, ..., config.seed + S - 1``, not by one lucky draw.
The trial's value is that mean (for a 0/1 metric such as ``split_ticket``, the fraction of
seeds); the per-seed values of every metric go to the trial's ``replicates`` attribute and the
objective's standard deviation and standard error to ``<metric>_std`` / ``<metric>_sem``.

Intermediate reports reach the pruner as the mean over seeds at each step, reported once every
seed has reached that step: with the seeds trained together (a batched population, the
``dendritic`` and ``imp`` kinds) that is every step as it happens; one after another (kinds
without a population), the pruner only sees the steps of the last seed. Stop and time limit are
checked at every seed's every step either way. A seed that fails fails the trial with its reason;
once the trial is pruned, every seed still training stops: in a population at once (``stopped``),
one after another at its next report.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core import Result

__all__ = [
    "ReplicateFailed",
    "ReplicateReporter",
    "replicate_seeds",
    "replicate_configs",
    "combine",
    "spread",
    "stored_extra",
]


class ReplicateFailed(Exception):
    """One seed of a replicated trial failed; the message names the seed and its error."""


def replicate_seeds(config: Any, n: int) -> list[int]:
    """The seeds a trial of ``config`` evaluates: ``config.seed`` and the ``n - 1`` after it."""
    return [int(config.seed) + r for r in range(n)]


def replicate_configs(config: Any, n: int) -> list[Any]:
    """``config`` once per replicate seed (``n == 1``: the config itself)."""
    if n == 1:
        return [config]
    return [dataclasses.replace(config, seed=s) for s in replicate_seeds(config, n)]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (ddof 1; 0 for one value) and standard error of ``values``."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "sem": std / math.sqrt(arr.size)}


class ReplicateReporter:
    """Collects the seeds' reports of one trial and passes their mean on to the trial's reporter."""

    def __init__(self, trial_reporter: Any, n: int) -> None:
        self.trial_reporter, self.n = trial_reporter, n
        self.steps: dict[int, dict[int, Mapping[str, float]]] = {}
        self.error: BaseException | None = None  # once pruned / stopped, every seed stops

    def seed(self, i: int) -> _SeedReporter:
        return _SeedReporter(self, i)

    def _report(self, i: int, step: int, metrics: Mapping[str, float]) -> None:
        if self.error is not None:
            raise self.error
        try:
            self.trial_reporter.check(step)  # the launcher's stop and the trial's time limit
            reports = self.steps.setdefault(step, {})
            reports[i] = dict(metrics)
            if len(reports) == self.n:
                del self.steps[step]
                self.trial_reporter.report(step, _mean_metrics(list(reports.values())))
        except BaseException as err:
            self.error = err
            raise


@dataclasses.dataclass(frozen=True)
class _SeedReporter:
    owner: ReplicateReporter
    index: int

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        self.owner._report(self.index, step, metrics)

    @property
    def stopped(self) -> BaseException | None:
        """Why every seed of the trial stops (pruned through another seed's report, interrupted, timed
        out), or None: a population lets this seed go at once (core.contract.Experiment)."""
        return self.owner.error


def _mean_metrics(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key present in every seed's metrics and numeric: the mean over seeds."""
    keys = [k for k in per_seed[0] if all(k in m for m in per_seed)]
    out = {}
    for k in keys:
        vals = [m[k] for m in per_seed]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[k] = float(np.mean(vals))
    return out


def combine(
    outcomes: Sequence[Result | BaseException],
    seeds: Sequence[int],
    objectives: Sequence[str],
    stopped: BaseException | None = None,
) -> Result | BaseException:
    """The trial's outcome from its seeds' outcomes.

    ``stopped`` (the :class:`ReplicateReporter`'s error: pruned, interrupted, timed out) wins; else the first failing seed fails the trial
    with its reason; else a Result whose metrics are the means over seeds, with the spread of
    each objective (``<metric>_std``, ``<metric>_sem``) and every metric per seed in
    ``extra["replicates"]``; the seeds' ``extra["run_data"]`` (when they have it) as one list in
    ``extra["run_data_per_seed"]``. Artifacts are the first seed's."""
    if len(outcomes) == 1:
        return outcomes[0]
    if stopped is not None:
        return stopped
    for seed, out in zip(seeds, outcomes):
        if isinstance(out, BaseException):
            err = ReplicateFailed(f"seed {seed}: {type(out).__name__}: {out}")
            err.__cause__ = out
            return err
    results: list[Result] = list(outcomes)  # type: ignore[arg-type]
    metrics = _mean_metrics([r.metrics for r in results])
    per_seed = {k: [float(r.metrics[k]) for r in results] for k in metrics}
    for name in objectives:
        if name in per_seed:
            s = spread(per_seed[name])
            metrics[f"{name}_std"], metrics[f"{name}_sem"] = s["std"], s["sem"]
    metrics["n_seeds"] = float(len(results))
    extra: dict[str, Any] = {"replicates": {"seeds": [int(s) for s in seeds], "per_seed": per_seed}}
    if any("run_data" in r.extra for r in results):
        extra["run_data_per_seed"] = [r.extra.get("run_data") for r in results]
    return Result(metrics=metrics, artifacts=dict(results[0].artifacts), extra=extra)


def stored_extra(result: Result) -> dict[str, Any]:
    """What a trial stores of ``result.extra`` beside its metrics: ``replicates`` (every metric per
    seed) and ``run_data``, a list with each seed's run data (one entry for an unreplicated trial)."""
    out = {k: result.extra[k] for k in ("replicates",) if k in result.extra}
    if "run_data_per_seed" in result.extra:
        out["run_data"] = list(result.extra["run_data_per_seed"])
    elif "run_data" in result.extra:
        out["run_data"] = [result.extra["run_data"]]
    return out
