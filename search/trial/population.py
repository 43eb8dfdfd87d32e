"""Several trials trained at once in one batched model (``resources.population``).

Small models leave a GPU (or a CPU core) mostly idle. A worker with ``population: P`` asks the
study for up to P trials, groups them by the experiment's ``population_key`` (configs whose
tensors can be stacked), trains each group with the experiment's ``run_population`` and tells
every trial its own outcome: COMPLETE with its values, PRUNED, or FAIL with its reason. Each
member keeps its own heartbeat, so a worker that dies leaves stale trials that are retried
like any other.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from core.config import config_hash
from search.store import Heartbeats
from search.trial.objective import Objective
from search.trial.reporter import TrialRun

__all__ = ["run_population_round"]


def _tell(study: optuna.Study, objective: Objective, run: TrialRun, outcome) -> None:
    if not isinstance(outcome, BaseException):
        try:
            values = objective.succeed(run, outcome)
            study.tell(run.trial, values[0] if len(values) == 1 else values)
            return
        except Exception as err:  # noqa: BLE001  (a missing or non-finite metric fails this trial only)
            outcome = err
    objective.fail(run, outcome)
    state = TrialState.PRUNED if isinstance(outcome, optuna.TrialPruned) else TrialState.FAIL
    study.tell(run.trial, state=state)


def run_population_round(study: optuna.Study, objective: Objective, size: int, heartbeat_s: float) -> int:
    """Ask ``size`` trials, train them in as few batched groups as their keys allow; return ``size``.

    A member whose configuration has a COMPLETE trial is recorded as its repeat, and one whose
    configuration another member of this round already has waits for that member's outcome
    (``search.trial.claims``): the same configuration never trains twice in a round."""
    runs: list[TrialRun] = []
    later: list[TrialRun] = []  # same config hash as a member of this round: its repeat, if it completes
    # Each member beats from the moment it is asked: asking and configuring 64 members takes seconds.
    beats = Heartbeats(objective.storage, [], heartbeat_s)
    with beats, tempfile.TemporaryDirectory(prefix="population-") as workdir:
        for _ in range(size):
            with warnings.catch_warnings():  # "heartbeat is meant for optimize": Heartbeats records them here
                warnings.simplefilter("ignore", UserWarning)
                run = objective.start(study.ask())
            beats.add(objective.trial_id(run.trial))
            if _told_without_training(study, objective, run):
                continue
            twin = any(config_hash(r.config) == config_hash(run.config) for r in runs)
            (later if twin else runs).append(run)
        _train(study, objective, runs, Path(workdir))
        for run in later:  # the twin has been told: reuse its result, or train when it did not complete
            if not _told_without_training(study, objective, run, configured=True):
                _train(study, objective, [run], Path(workdir))
    return size


def _told_without_training(study: optuna.Study, objective: Objective, run: TrialRun, configured: bool = False) -> bool:
    """Configure ``run`` (unless ``configured``); tell it FAIL when its config is rejected, or as a
    repeat when its configuration has a COMPLETE trial. False: the run must train."""
    try:
        if not configured:
            objective.configure(run)
        values = objective.repeat(run)  # a finished configuration is not trained again
    except Exception as err:  # noqa: BLE001  (a config the experiment rejects fails alone)
        objective.fail(run, err)
        study.tell(run.trial, state=TrialState.FAIL)
        return True
    if values is None:
        return False
    study.tell(run.trial, values[0] if len(values) == 1 else values)
    return True


def _train(study: optuna.Study, objective: Objective, runs: list[TrialRun], workdir: Path) -> None:
    """Train ``runs`` in batched groups (one per population key; with ``study.replicates`` every
    seed of a trial is a member) and tell each trial its outcome."""
    experiment = objective.experiment
    groups: dict[object, list[tuple[int, Any, Any]]] = defaultdict(list)  # key -> (run index, config, reporter)
    for k, run in enumerate(runs):
        for config, reporter in objective.members(run):
            groups[experiment.population_key(config)].append((k, config, reporter))
    outcomes: list[list[Any]] = [[] for _ in runs]  # per run, its members' outcomes in seed order
    for group in groups.values():
        try:
            got = objective.timed(
                experiment.run_population,
                [c for _, c, _ in group],
                [r for _, _, r in group],
                objective.context(workdir),
            )
        except Exception as err:  # noqa: BLE001  (the batched run itself broke: every member fails)
            got = [err] * len(group)
        for (k, _, _), outcome in zip(group, got):
            outcomes[k].append(outcome)
    for run, outs in zip(runs, outcomes):
        try:
            _tell(study, objective, run, objective.outcome(run, outs))
        except Exception:
            if objective.taken_over(run.trial) is None:
                raise
            print(
                f"trial {run.trial.number} was failed as stale while it ran (its heartbeat "
                "stopped); its retry runs instead",
                file=sys.stderr,
                flush=True,
            )
