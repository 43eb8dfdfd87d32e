"""A worker pulls trials from the shared study until the study's budget is met.

The budget counts finished trials (COMPLETE or PRUNED) across every launch of the study.
A worker asks for a new trial only while finished + running < ``n_trials``; when the only
thing missing is a RUNNING trial, it waits and fails stale trials (their worker died; see
``search.store.heartbeats`` for trials that never had a heartbeat), so that their retry (a WAITING
copy made by ``RetryHeartbeatStaleTrialCallback``) gets run.
Several workers asking at the same instant can overshoot by at most ``workers - 1``.
A worker whose last ``resources.max_consecutive_failures`` trials all failed stops and says why
(a bad data file, a missing package, a broken GPU fail every trial: without the stop a long
launch would write a FAIL trial per second into the storage until its timeout).
A storage outage (the database restarting) pauses a worker instead of ending it, for up to
``search.store.storage.STORAGE_OUTAGE_S``.

:class:`StudyWorker` is plain Python; ``launch`` wraps it as a Ray actor.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.store import (
    adopt_orphans,
    artifact_store,
    budget_counts,
    fail_stale,
    open_existing_study,
    open_storage,
    read_record,
    requeue_failed,
    study_id,
    through_outage,
    wait_out,
)
from search.studyfile import StudySpec, make_pruner, make_sampler
from search.trial import Objective, run_trials

__all__ = [
    "DeviceUnavailable",
    "trailing_failures",
    "StudyWorker",
    "budget_counts",
    "budget_met",
    "failure_streak",
    "gpu_problem",
    "overhead",
    "sampler_seed",
]

_STALE_POLL_S = 1.0


def budget_met(spec: StudySpec, finished: int) -> bool:
    return spec.study.n_trials is not None and finished >= spec.study.n_trials


def overhead(stats: list[dict[str, Any]]) -> float:
    """Share of the workers' wall time not spent inside the experiment (0 when nothing ran)."""
    wall = sum(s["wall_s"] for s in stats)
    return 1.0 - sum(s["busy_s"] for s in stats) / wall if wall > 0 else 0.0


def sampler_seed(base: Any, index: int, *, fresh: bool) -> int:
    """The seed of worker ``index``'s sampler (recorded on each of its trials as ``sampler_seed``).

    In the launch that created the study, worker i gets ``base + i``: a study run by one worker
    in one launch proposes the same sequence every time. Every other worker (a resumed launch,
    a second launcher on the same study, an actor Ray restarted after a crash) would otherwise
    replay a sequence that has already been proposed, so it draws a fresh seed instead. Grid,
    bruteforce and enqueued trials do not depend on it."""
    if isinstance(base, int) and not isinstance(base, bool) and not fresh:
        return base + index
    return random.SystemRandom().randrange(2**31)


def trailing_failures(study: optuna.Study, launch_id: str) -> list[tuple[int, str]]:
    """This launch's finished trials that failed last in a row (by completion time), as (number,
    reason), interrupted ones left out: a worker Ray restarted (after a fatal GPU error, a crash)
    carries the streak on instead of starting again from zero, so a fault that kills every trial's
    process still stops the launch."""
    mine = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        if (r := read_record(t)).launch_id == launch_id and not str(r.fail_reason or "").startswith("interrupted")
    ]
    streak: list[tuple[int, str]] = []
    for t in sorted(mine, key=lambda t: t.datetime_complete or t.datetime_start):
        streak = streak + [(t.number, str(read_record(t).fail_reason or ""))] if t.state == TrialState.FAIL else []
    return streak


def failure_streak(failures: list[tuple[int, str]]) -> str:
    """One line for a worker that stopped after ``failures`` (number, reason) in a row: how many,
    which trials, and the cause (the most frequent reason; how many other causes there were)."""
    reasons = Counter(reason for _n, reason in failures)
    cause, _count = reasons.most_common(1)[0]
    numbers = ", ".join(f"#{n}" for n, _r in failures[:8]) + (", ..." if len(failures) > 8 else "")
    others = f" (and {len(reasons) - 1} other causes)" if len(reasons) > 1 else ""
    return f"{len(failures)} trials in a row failed ({numbers}): {cause}{others}"


def _restarted_by_ray() -> bool:
    """Whether this process is a Ray actor that Ray started again after it died."""
    import ray

    if not ray.is_initialized():
        return False
    with warnings.catch_warnings():  # Ray 2.60's property warns about its own use of actor_id
        warnings.simplefilter("ignore", DeprecationWarning)
        return ray.get_runtime_context().was_current_actor_reconstructed


class DeviceUnavailable(RuntimeError):
    """A worker was given a GPU share but its torch cannot use a GPU: one line saying why."""


def gpu_problem() -> str | None:
    """Why this process's torch cannot train on a GPU (a CPU build, or no GPU visible), or None."""
    import torch

    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return (
            f"this torch is a CPU build ({torch.__version__}): install a CUDA build of torch "
            "for GPU trials, or set resources.gpus_per_trial: 0"
        )
    if not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return (
            f"torch {torch.__version__} sees no GPU (CUDA_VISIBLE_DEVICES={visible!r}; driver missing or "
            "GPU not passed to the container?): fix the node, or set resources.gpus_per_trial: 0"
        )
    return None


def _device(gpus: float, needs_device: bool = True) -> str:
    """The torch device of a worker with ``gpus`` GPUs: ``cuda:0`` (Ray sets CUDA_VISIBLE_DEVICES to
    the GPU it assigned, so it is device 0 here), or ``cpu``. A GPU share that torch cannot use is a
    :class:`DeviceUnavailable`, never a silent CPU run holding a GPU reservation."""
    if gpus <= 0 or not needs_device:
        return "cpu"
    problem = gpu_problem()
    if problem is not None:
        raise DeviceUnavailable(f"resources.gpus_per_trial: {problem}")
    return "cuda:0"


class StudyWorker:
    """Runs trials of one study until its budget or the deadline; ``stop()`` ends it early."""

    def __init__(
        self, spec: StudySpec, *, index: int, launch_id: str, deadline: float | None, created_study: bool = True
    ) -> None:
        self.spec, self.index, self.launch_id, self.deadline = spec, index, launch_id, deadline
        self.created_study = created_study  # this launch created the study: see sampler_seed
        self.sampler_seed: int | None = None
        self._stop = threading.Event()
        self._next_housekeeping = 0.0  # when a refilling round next fails stale trials (_room)

    def stop(self) -> None:
        self._stop.set()

    def ping(self) -> int:
        """Answers once Ray has placed this actor (the launcher tells placed workers from pending ones)."""
        return self.index

    def _connect(self) -> tuple[optuna.storages.BaseStorage, optuna.Study, int]:
        spec, res = self.spec, self.spec.resources
        storage = open_storage(
            spec.study.storage, heartbeat_interval=res.heartbeat_interval, max_retries=res.max_retries
        )
        sampler_args = dict(spec.study.sampler)
        self.sampler_seed = sampler_seed(
            sampler_args.get("seed"), self.index, fresh=not self.created_study or _restarted_by_ray()
        )
        sampler_args["seed"] = self.sampler_seed
        grid = {p.name: p.encoded_choices for p in spec.search_space}
        study = open_existing_study(
            spec,
            storage,
            pruner=make_pruner(spec.study.pruner),
            sampler=make_sampler(sampler_args, grid if sampler_args["name"] == "grid" else None),
        )
        return storage, study, study_id(storage, spec.study.name)

    def _restart_after(self, study: optuna.Study, fatal: list[tuple[int, str]]) -> None:
        """After an error that leaves this process's GPU unusable (every later kernel would fail
        too): queue the trials it failed again (up to ``resources.max_retries`` times each) and end
        the process; Ray starts the worker anew (``max_restarts``), with a fresh CUDA context."""
        requeued = requeue_failed(study, [n for n, _ in fatal], self.spec.resources.max_retries)
        print(
            f"worker {self.index}: {fatal[0][1]}: the process's GPU is unusable; trials "
            f"{', '.join(f'#{n}' for n, _ in fatal)} failed ({requeued} queued again); restarting the worker",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(70)  # not sys.exit: no cleanup may touch the broken CUDA context

    def _room(self, storage, study: optuna.Study, study_id: int, objective: Objective) -> int:
        """How many more trials a population round may ask now to refill its freed slots: what
        the budget leaves, 0 once the launcher stops, the deadline passes or the failure streak
        is reached. Stale trials of dead workers are failed and orphans adopted meanwhile, once
        per heartbeat interval, as between rounds (a refilled round can last the whole study)."""
        res = self.spec.resources
        if self._stop.is_set() or (self.deadline and time.time() >= self.deadline) or objective.fatal:
            return 0
        if res.max_consecutive_failures and len(objective.failures) >= res.max_consecutive_failures:
            return 0
        finished, running = budget_counts(storage, study_id)
        if time.monotonic() >= self._next_housekeeping:
            fail_stale(study)
            if running:
                adopt_orphans(storage, study)
            self._next_housekeeping = time.monotonic() + res.heartbeat_interval
        if budget_met(self.spec, finished):
            return 0
        n = self.spec.study.n_trials
        return n - finished - running if n is not None else self.spec.trials_per_round()

    def run(self) -> dict[str, Any]:
        import torch

        spec, res = self.spec, self.spec.resources
        threads = max(1, int(res.cpus_per_trial))
        torch.set_num_threads(threads)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from core import get_experiment

        device = _device(res.gpus_per_trial, get_experiment(spec.kind).uses_device)  # before any trial
        storage, study, study_id = through_outage(self._connect, f"worker {self.index}")
        objective = Objective(
            spec,
            device=device,
            threads=threads,
            launch_id=self.launch_id,
            artifacts=artifact_store(spec.study.artifacts),
            stop=self._stop,
            sampler_seed=self.sampler_seed,
            storage=storage,
        )
        check = objective.experiment.check_data
        if check is not None:  # a damaged data file on this node: the worker fails, no trial does
            check(spec.experiment, objective.context(Path(spec.study.artifacts)))
        if _restarted_by_ray():  # the streak of failures goes on across a restart (fatal GPU error)
            objective.failures = through_outage(lambda: trailing_failures(study, self.launch_id), "worker")
        ran, started, outage, next_adopt, gave_up = 0, time.perf_counter(), None, 0.0, None
        while not self._stop.is_set() and not (self.deadline and time.time() >= self.deadline):
            try:
                finished, running = budget_counts(storage, study_id)
                outage = None  # the database answers again
                if running and time.monotonic() >= next_adopt:  # Optuna's own stale check runs per trial
                    adopt_orphans(storage, study)
                    next_adopt = time.monotonic() + res.heartbeat_interval
                if budget_met(spec, finished):
                    break
                if spec.study.n_trials is not None and finished + running >= spec.study.n_trials:
                    fail_stale(study)  # orphans adopted above, once per heartbeat interval
                    time.sleep(_STALE_POLL_S)
                    continue
                # a round that ran out of device memory made later rounds smaller (population_cap)
                size = spec.trials_per_round(objective.population_cap)
                room = spec.study.n_trials - finished - running if spec.study.n_trials else size
                ran += run_trials(
                    study,
                    objective,
                    min(size, room),
                    res.heartbeat_interval,
                    res.population > 1,
                    room=lambda: self._room(storage, study, study_id, objective),
                )
                if res.max_consecutive_failures and len(objective.failures) >= res.max_consecutive_failures:
                    gave_up = failure_streak(objective.failures)
                    break
                if objective.fatal:
                    self._restart_after(study, objective.fatal)
            except Exception as err:  # noqa: BLE001  re-raised unless it is a storage outage
                # The database restarted or is briefly unreachable (pool_pre_ping reconnects once it is
                # back). A trial caught mid-tell stays RUNNING, goes stale and is retried by heartbeat.
                outage = outage or time.monotonic()
                wait_out(err, outage, f"worker {self.index}")
        return {
            "worker": self.index,
            "trials": ran,
            "wall_s": time.perf_counter() - started,
            "busy_s": objective.busy_s,
            "fill": tuple(objective.fill),  # population rounds: (member-epochs, slot-epochs)
            "gave_up": gave_up,
        }
