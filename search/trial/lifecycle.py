"""A trial's life in a worker, one code path for a trial alone and for a population round.

Every trial is asked from the study, beats from the moment it exists (:class:`Heartbeats`), is
configured (suggested values to a core config, recorded), then either *repeats* a COMPLETE trial
of the same configuration (its values, no training) or trains, and is told its outcome: COMPLETE
with its values, PRUNED, or FAIL with its reason. What differs is only how the trials train:

* alone (``resources.population`` 1): under the configuration's claim (``search.trial.claims``) in
  its own work directory, which a failed trial leaves for its retry to resume from;
* batched (``resources.population`` P > 1): up to P trials asked at once, grouped by the
  experiment's ``population_key`` (configs whose tensors stack) and trained by its
  ``run_population`` in a temporary directory; a member whose configuration another member of the
  round has waits for that member's outcome, so a configuration never trains twice in a round.

A trial that another worker failed as stale while this one trained it (a long database outage)
is refused at its tell; the round says so and goes on: its retry runs instead. Stale trials of
dead workers are failed (and their retries queued) before each round is asked, as Optuna's own
``study.optimize`` does.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from core.config import config_hash
from core.errors import out_of_memory
from core.replicates import train_configs
from search.store import Heartbeats, fail_stale
from search.trial.objective import Objective
from search.trial.reporter import TrialRun

__all__ = ["run_trials"]


def run_trials(study: optuna.Study, objective: Objective, size: int, heartbeat_s: float, batched: bool) -> int:
    """Ask ``size`` trials and see each to its end; train them alone one after another, or (``batched``)
    in as few batched groups as their population keys allow. Returns how many this worker told
    (a trial failed as stale meanwhile is not counted: its retry is another trial)."""
    fail_stale(study)
    told: list[bool] = []
    beats = Heartbeats(objective.storage, [], heartbeat_s, first_after=heartbeat_s)  # add() beats at once
    # A batched round trains in a temporary directory; a trial alone in its configuration's own.
    scratch = tempfile.TemporaryDirectory(prefix="population-") if batched else contextlib.nullcontext("")
    with beats, scratch as workdir:
        runs: list[TrialRun] = []
        later: list[TrialRun] = []  # same config hash as a member of this round: its repeat, if it completes
        for _ in range(size):
            with warnings.catch_warnings():  # "heartbeat is meant for optimize": Heartbeats records them here
                warnings.simplefilter("ignore", UserWarning)
                run = objective.start(study.ask())
            beats.add(objective.trial_id(run.trial))
            if not batched:
                told.append(_alone(study, objective, run))
                continue
            if _told_without_training(study, objective, run, told):
                continue
            twin = any(config_hash(r.config) == config_hash(run.config) for r in runs)
            (later if twin else runs).append(run)
        if runs:
            _batched(study, objective, runs, Path(workdir), told)
        for run in later:  # the twin has been told: reuse its result, or train when it did not complete
            if not _told_without_training(study, objective, run, told, configured=True):
                _batched(study, objective, [run], Path(workdir), told)
    return sum(told)


def _alone(study: optuna.Study, objective: Objective, run: TrialRun) -> bool:
    """Configure, claim, repeat or train (:meth:`Objective.train_alone`, which records how it ended), tell."""
    try:
        outcome: Any = objective.train_alone(run)
    except Exception as err:  # noqa: BLE001  (recorded already; told below)
        outcome = err
    except KeyboardInterrupt as err:  # the process is stopping: tell FAIL, then stop
        _tell(study, objective, run, err)
        raise
    return _tell(study, objective, run, outcome)


def _tell(study: optuna.Study, objective: Objective, run: TrialRun, outcome: list[float] | BaseException) -> bool:
    """Tell the study: values (COMPLETE), or PRUNED / FAIL for an exception (already recorded). A
    trial failed as stale meanwhile refuses the tell: said in one line, False, the worker goes on."""
    try:
        if isinstance(outcome, BaseException):
            state = TrialState.PRUNED if isinstance(outcome, optuna.TrialPruned) else TrialState.FAIL
            study.tell(run.trial, state=state)
        else:
            study.tell(run.trial, outcome[0] if len(outcome) == 1 else outcome)
        return True
    except Exception:
        if objective.taken_over(run.trial) is None:
            raise
        print(
            f"trial {run.trial.number} was failed as stale while it ran (its heartbeat "
            "stopped); its retry runs instead",
            file=sys.stderr,
            flush=True,
        )
        return False


def _told_without_training(
    study: optuna.Study, objective: Objective, run: TrialRun, told: list[bool], configured: bool = False
) -> bool:
    """Configure ``run`` (unless ``configured``); tell it FAIL when its config is rejected, or as a
    repeat when its configuration has a COMPLETE trial (appending to ``told``). False: it must train."""
    try:
        if not configured:
            objective.configure(run)
        values = objective.repeat(run)  # a finished configuration is not trained again
    except Exception as err:  # noqa: BLE001  (a config the experiment rejects fails alone)
        objective.fail(run, err)
        told.append(_tell(study, objective, run, err))
        return True
    if values is None:
        return False
    told.append(_tell(study, objective, run, values))
    return True


def _batched(study: optuna.Study, objective: Objective, runs: list[TrialRun], workdir: Path, told: list[bool]) -> None:
    """Train ``runs`` in batched groups (one per population key; with ``study.replicates`` every
    seed of a trial is a member) and tell each trial its outcome."""
    experiment = objective.experiment
    groups: dict[object, list[tuple[int, Any, Any]]] = defaultdict(list)  # key -> (run index, config, reporter)
    for k, run in enumerate(runs):
        for config, reporter in objective.members(run):
            groups[experiment.population_key(config)].append((k, config, reporter))
    outcomes: list[list[Any]] = [[] for _ in runs]  # per run, its members' outcomes in seed order
    for group in groups.values():
        got = _run_group(objective, runs, group, workdir)
        for (k, _, _), outcome in zip(group, got):
            outcomes[k].append(outcome)
    for run, outs in zip(runs, outcomes):
        told.append(_tell(study, objective, run, _recorded(objective, run, objective.outcome(run, outs))))


def _recorded(objective: Objective, run: TrialRun, outcome: Any) -> list[float] | BaseException:
    """Record a batched trial's outcome (its metrics and artifacts, or why it failed); its values or
    the exception to tell."""
    if not isinstance(outcome, BaseException):
        try:
            return objective.succeed(run, outcome)
        except Exception as err:  # noqa: BLE001  (a missing or non-finite metric fails this trial only)
            outcome = err
    objective.fail(run, outcome)
    return outcome


def _run_group(objective: Objective, runs: list[TrialRun], group: list[tuple[int, Any, Any]], workdir: Path) -> list:
    """One group through the core's one entry (:func:`core.replicates.train_configs`: its
    ``run_population``); an outcome (Result or exception) per member.

    A device out-of-memory before any of the group's trials reported a step splits the group in
    halves, each run on its own, and caps this worker's later rounds at the size that fitted
    (``objective.population_cap``): a trial fails for memory only if it does not fit alone. After a
    report the round is not replayed (its steps were told to the pruner): its trials fail instead.
    """
    got = objective.timed(
        train_configs,
        objective.experiment,
        [c for _, c, _ in group],
        [r for _, _, r in group],
        objective.context(workdir),
        batched=True,
    )
    failed = got[0]
    if not (isinstance(failed, BaseException) and all(g is failed for g in got)):
        return got  # the members' own outcomes (a batched run that broke gives each the same exception)
    reported = any(runs[k].reporter.history or (runs[k].replicates and runs[k].replicates.steps) for k, _, _ in group)
    if not out_of_memory(failed) or len(group) == 1 or reported:
        return [failed] * len(group)
    half = len(group) // 2
    objective.population_cap = half if objective.population_cap is None else min(half, objective.population_cap)
    print(
        f"population of {len(group)} ran out of device memory; running it as {half} + {len(group) - half} "
        f"(later rounds at most {objective.population_cap})",
        file=sys.stderr,
        flush=True,
    )
    del failed  # its traceback holds the round's tensors
    _release_device_memory()
    return _run_group(objective, runs, group[:half], workdir) + _run_group(objective, runs, group[half:], workdir)


def _release_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
