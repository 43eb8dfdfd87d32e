"""The runs of a confirmation: every (configuration, fresh seed) pair is a trial of the linked study.

A pair that has a COMPLETE trial is never trained again; the rest train in chunks through the core's
one entry (:func:`core.replicates.train_configs`: batched as one population where the experiment
kind can, else one after another). Each trial records its candidate, seed, full config, every
metric and its run data; a run that raises is FAIL with its reason. A confirmation that was killed
left its trials RUNNING: the next one (holding the confirmation's lock, so nobody else is running
them) marks them FAIL first and trains them again.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from core import Result, RunContext, get_experiment
from core.config import config_hash, replace_paths, to_dict
from core.replicates import train_configs
from search.store import fail_running, read_record, trial_id, write_result, write_run
from search.studyfile import StudySpec

__all__ = ["Candidate", "run_pending", "candidate_trials"]

LEFTOVER = "interrupted: the confirmation stopped before this run finished; run again"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration to confirm: its label, the search trial it came from, its config."""

    label: str  # "baseline", "best 1", ...
    search_trial: int | None  # None: the baseline never ran in the search
    params: Mapping[str, Any]
    search_value: float | None
    config: Any  # the search's config (its seed is the first replicate's)
    overrides: Mapping[str, Any]

    @property
    def search_hash(self) -> str:
        return config_hash(self.config)

    @cached_property
    def confirm_config(self) -> Any:
        return replace_paths(self.config, self.overrides)

    @property
    def key(self) -> str:
        """Identifies the candidate's runs in the confirmation study: its confirmation config's hash."""
        return config_hash(self.confirm_config)


class _History:
    """A reporter that keeps every step's metrics (nothing prunes a confirmation run)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        self.steps.append({"step": step, **{k: float(v) for k, v in metrics.items()}})


def candidate_trials(study: optuna.Study, key: str, states=(TrialState.COMPLETE,)) -> list:
    return [t for t in study.get_trials(deepcopy=False, states=states) if read_record(t).candidate_hash == key]


def _fail_leftovers(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """FAIL, with the reason, what a killed confirmation left RUNNING (their process is gone)."""
    fail_running(storage, study, LEFTOVER)


def run_pending(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    spec: StudySpec,
    picked: Sequence[Candidate],
    seeds: Sequence[int],
    metric: str,
    work: Path,
    *,
    device: str,
    threads: int | None,
) -> int:
    """Train every (candidate, seed) without a COMPLETE trial; return how many failed."""
    _fail_leftovers(study, storage)
    done = {
        (r.candidate_hash, r.seed)
        for r in map(read_record, study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    }
    pending = [(c, s) for c in picked for s in seeds if (c.key, s) not in done]
    exp = get_experiment(spec.kind)
    size = max(spec.resources.population, len(seeds)) if exp.run_population is not None else 1
    ctx = RunContext(device=device, workdir=work / f"{study.study_name}-runs", threads=threads)
    failed = 0
    for i in range(0, len(pending), size):
        failed += _chunk(study, storage, exp, pending[i : i + size], metric, ctx)
    return failed


def _chunk(study: optuna.Study, storage, exp, pairs: list, metric: str, ctx: RunContext) -> int:
    configs = [dataclasses.replace(c.confirm_config, seed=s) for c, s in pairs]
    reporters = [_History() for _ in pairs]
    trials: list[optuna.Trial] = []
    told: set[int] = set()
    try:
        for (cand, seed), cfg in zip(pairs, configs):
            with warnings.catch_warnings():  # "heartbeat is meant for optimize": nothing to beat for here
                warnings.simplefilter("ignore", UserWarning)
                trial = study.ask()
            run = {
                "candidate": cand.label,
                "search_trial": cand.search_trial,
                "params": dict(cand.params),
                "candidate_hash": cand.key,
                "seed": seed,
                "config": to_dict(cfg),
                "config_hash": config_hash(cfg),
            }
            write_run(storage, trial_id(storage, study, trial.number), run)  # one transaction
            trials.append(trial)
        outcomes = train_configs(exp, configs, reporters, ctx, batched=True)
        failed = 0
        for trial, rep, out in zip(trials, reporters, outcomes):
            result: dict[str, Any] = {"history": rep.steps}
            value = out.metrics.get(metric) if isinstance(out, Result) else None
            if value is None or not math.isfinite(float(value)):
                reason = (
                    f"{type(out).__name__}: {out}"
                    if isinstance(out, BaseException)
                    else f"the run returned no finite metric {metric!r}"
                )
                result["fail_reason"] = reason[:1000]
            else:
                result.update(
                    (k, float(v)) for k, v in out.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)
                )
                if "run_data" in out.extra:  # as a search trial stores it: a list, one entry per seed
                    result["run_data"] = [out.extra["run_data"]]
            write_result(storage, trial_id(storage, study, trial.number), result)  # one transaction
            if "fail_reason" in result:
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
            else:
                study.tell(trial, float(value))
            told.add(trial.number)
        return failed
    finally:  # Ctrl-C or a storage error: nothing this chunk asked stays RUNNING
        for trial in trials:
            if trial.number not in told:
                try:
                    trial.set_user_attr("fail_reason", LEFTOVER)
                    study.tell(trial, state=TrialState.FAIL)
                except Exception:  # noqa: BLE001  the next confirmation fails it (_fail_leftovers)
                    pass
