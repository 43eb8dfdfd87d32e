"""A trial's life in a worker, one code path for a trial alone and for a population round.

Every trial is asked from the study, beats from the moment it exists (:class:`Heartbeats`), is
configured (suggested values to a core config, recorded), then either *repeats* a COMPLETE trial
of the same configuration (its values, no training) or trains, and is told its outcome: COMPLETE
with its values, PRUNED, or FAIL with its reason. What differs is only how the trials train:

* alone (``resources.population`` 1): under the configuration's claim (``search.trial.claims``) in
  its own work directory, which a failed trial leaves for its retry to resume from;
* batched (``resources.population`` P > 1): up to P trials asked at once, grouped by the
  experiment's ``population_key`` (configs whose tensors stack) and trained by its
  ``run_population`` in a temporary directory, each group a :class:`~search.trial.rounds.Round`:
  a trial is told as soon as its seeds have ended, and where the kind refills, the slots it
  freed take the next trials from the sampler at the next epoch boundary while the worker's
  budget allows (``room``). A trial whose configuration another member of the round has waits
  for that member's outcome, so a configuration never trains twice in a round.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from core.config import config_hash
from core.errors import out_of_memory
from core.replicates import train_configs
from search.store import Heartbeats, fail_stale
from search.trial.objective import Objective
from search.trial.reporter import TrialRun
from search.trial.rounds import Round
from search.trial.tell import tell, told_without_training

__all__ = ["run_trials"]


def run_trials(
    study: optuna.Study,
    objective: Objective,
    size: int,
    heartbeat_s: float,
    batched: bool,
    room: Callable[[], int] | None = None,
) -> int:
    """Ask ``size`` trials and see each to its end; train them alone one after another, or (``batched``)
    in as few batched groups as their population keys allow, refilled while ``room()`` (the trials
    the worker may still ask) is positive. Returns how many this worker told (a trial failed as
    stale meanwhile is not counted: its retry is another trial)."""
    fail_stale(study)
    told: list[bool] = []
    beats = Heartbeats(objective.storage, [], heartbeat_s, first_after=heartbeat_s)  # add() beats at once
    # A batched round trains in a temporary directory; a trial alone in its configuration's own.
    scratch = tempfile.TemporaryDirectory(prefix="population-") if batched else contextlib.nullcontext("")

    def ask() -> TrialRun:
        with warnings.catch_warnings():  # "heartbeat is meant for optimize": Heartbeats records them here
            warnings.simplefilter("ignore", UserWarning)
            run = objective.start(study.ask())
        beats.add(objective.trial_id(run.trial))
        return run

    with beats, scratch as workdir:
        runs: list[TrialRun] = []
        later: list[TrialRun] = []  # same config hash as a member of this round: its repeat, if it completes
        for _ in range(size):
            run = ask()
            if not batched:
                told.append(_alone(study, objective, run))
                continue
            if told_without_training(study, objective, run, told):
                continue
            twin = any(config_hash(r.config) == config_hash(run.config) for r in runs)
            (later if twin else runs).append(run)
        refill = (ask, room, size * objective.spec.study.replicates) if room is not None else None
        if runs:
            _batched(study, objective, runs, Path(workdir), told, later, refill, beats)
        for run in later:  # the twin has been told: reuse its result, or train when it did not complete
            if not told_without_training(study, objective, run, told, configured=True):
                _batched(study, objective, [run], Path(workdir), told, [], None, beats)
    return sum(told)


def _alone(study: optuna.Study, objective: Objective, run: TrialRun) -> bool:
    """Configure, claim, repeat or train (:meth:`Objective.train_alone`, which records how it ended), tell."""
    try:
        outcome: Any = objective.train_alone(run)
    except Exception as err:  # noqa: BLE001  (recorded already; told below)
        outcome = err
    except KeyboardInterrupt as err:  # the process is stopping: tell FAIL, then stop
        tell(study, objective, run, err)
        raise
    return tell(study, objective, run, outcome)


def _batched(
    study: optuna.Study,
    objective: Objective,
    runs: list[TrialRun],
    workdir: Path,
    told: list[bool],
    later: list[TrialRun],
    refill: tuple[Callable[[], TrialRun], Callable[[], int], int] | None,
    beats: Heartbeats | None = None,
) -> None:
    """Train ``runs`` in batched groups (one per population key; with ``study.replicates`` every
    seed of a trial is a member), each a :class:`Round` that tells its trials as they end; the
    first group refills (``refill``: ask, room, capacity) where the kind can."""
    experiment = objective.experiment
    groups: dict[object, list[TrialRun]] = defaultdict(list)
    for run in runs:
        groups[experiment.population_key(run.config)].append(run)
    for key, group in groups.items():
        feeds = refill is not None and experiment.refills
        ask, room, capacity = refill if feeds else (None, None, 0)
        rnd = Round(study, objective, told, capacity=capacity, key=key, ask=ask, room=room, later=later, beats=beats)
        pairs = [pair for run in group for pair in rnd.add(run)]
        rnd.size = len(pairs)
        rnd.finish(_run_group(objective, rnd, pairs, workdir, rnd if feeds else None))
        objective.fill[0] += rnd.fill[0]
        objective.fill[1] += rnd.fill[1]
        refill = None  # one refilled population per round: the other keys' groups are the round's rest


def _run_group(objective: Objective, rnd: Round, pairs: list, workdir: Path, feed: Round | None) -> list:
    """One group through the core's one entry (:func:`core.replicates.train_configs`: its
    ``run_population``, refilled from ``feed``); an outcome (Result or exception) per member, the
    joined ones after.

    A device out-of-memory before any of the group's trials reported a step splits the group in
    halves, each run on its own without refills, and caps this worker's later rounds at the size
    that fitted (``objective.population_cap``): a trial fails for memory only if it does not fit
    alone. After a report the round is not replayed (its steps were told to the pruner): its
    trials fail instead.
    """
    got = objective.timed(
        train_configs,
        objective.experiment,
        [c for c, _ in pairs],
        [r for _, r in pairs],
        objective.context(workdir),
        batched=True,
        feed=feed,
    )
    failed = got[0]
    if not (isinstance(failed, BaseException) and all(g is failed for g in got)):
        return got  # the members' own outcomes (a batched run that broke gives each the same exception)
    runs = {id(run): run for run, _ in rnd.members}.values()
    reported = any(run.reporter.history or (run.replicates and run.replicates.steps) for run in runs)
    joined = feed is not None and len(rnd.members) > len(pairs)
    if not out_of_memory(failed) or len(pairs) == 1 or reported or joined:
        return [failed] * len(pairs)
    half = len(pairs) // 2
    objective.population_cap = half if objective.population_cap is None else min(half, objective.population_cap)
    print(
        f"population of {len(pairs)} ran out of device memory; running it as {half} + {len(pairs) - half} "
        f"(later rounds at most {objective.population_cap})",
        file=sys.stderr,
        flush=True,
    )
    del failed  # its traceback holds the round's tensors
    _release_device_memory()
    return _run_group(objective, rnd, pairs[:half], workdir, None) + _run_group(
        objective, rnd, pairs[half:], workdir, None
    )


def _release_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
