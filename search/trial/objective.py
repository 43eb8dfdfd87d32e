"""One Optuna trial: suggested values → core config → ``core`` run → objective value(s).

The trial's user attributes carry everything needed to reproduce and judge it: the full
resolved config and its hash, the seed, the project version and git commit, the device,
the wall time, every scalar metric the run returned, and, when it failed, the reason; each
scalar flat (a dashboard column), in two transactions (``search.store.records``), read back with
``search.store.read_record``.
A trial whose artifacts cannot be stored (disk full, unwritable directory) still completes,
with ``artifact_error`` saying which artifacts were lost and why.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact

from core import ConfigError, Diverged, Result, RunContext, get_experiment
from core.config import config_hash, replace_paths, to_dict
from core.errors import fatal_device_error
from core.replicates import train_configs
from search.store import get_trial, read_record, spec_storage, study_id, trial_id, write_result, write_run
from search.studyfile import StudySpec, suggest
from search.trial.claims import claim, finished_twin, lock_path, repeat_result
from search.trial.facts import device_name, provenance
from search.trial.replicates import ReplicateReporter, combine, replicate_configs, replicate_seeds, stored_extra
from search.trial.reporter import Interrupted, TrialReporter, TrialRun

__all__ = ["Objective", "build_config"]


def build_config(spec: StudySpec, params: Mapping[str, Any]) -> Any:
    """The experiment config with each dotted ``params`` entry set (the study's fixed values stay)."""
    return replace_paths(spec.experiment, params)


class Objective:
    """One per worker: configures, trains and records trials; ``search.trial.run_trials``, the one
    engine of a worker (and of the tests), asks and tells them."""

    def __init__(
        self,
        spec: StudySpec,
        *,
        device: str,
        threads: int | None,
        launch_id: str,
        artifacts,
        stop: threading.Event,
        sampler_seed: int | None = None,
        storage: optuna.storages.BaseStorage | None = None,
    ) -> None:
        self.spec, self.device, self.threads, self.launch_id = spec, device, threads, launch_id
        self._db = storage  # the study's storage (opened from spec.study.storage when not given)
        self._study_ids: dict[str, int] = {}
        self._trial_ids: dict[tuple[str, int], int] = {}  # (study, number) -> id: looked up once per trial
        self.sampler_seed = sampler_seed  # recorded on each trial: which sampler stream proposed it
        self.artifacts, self.stop = artifacts, stop
        self.experiment = get_experiment(spec.kind)
        self.busy_s = 0.0  # time spent inside the experiment itself: the rest is service overhead
        self.device_name = device_name(device)  # e.g. "NVIDIA H100 80GB HBM3": which GPU ran the trial
        # This worker's trials that failed in a row, (number, reason): a completed or pruned trial
        # clears it, an interrupted one (the launcher's stop) is not the trial's failure.
        self.failures: list[tuple[int, str]] = []
        # Trials that failed with an error that leaves this process's GPU unusable (illegal memory
        # access, device-side assert): the worker queues them again and exits, Ray starts it anew.
        self.fatal: list[tuple[int, str]] = []
        # The most trainings a population round of this worker fitted in device memory (None: no
        # round ran out of memory yet); later rounds are no larger.
        self.population_cap: int | None = None
        self.fill = [0, 0]  # population rounds: member-epochs trained, slot-epochs there were

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        """The storage the trials live in (``search.store.studies`` takes it; no trial's private parts)."""
        if self._db is None:
            self._db = spec_storage(self.spec)
        return self._db

    def trial_id(self, trial: optuna.Trial) -> int:
        """The storage's id of ``trial`` (its study's id is looked up once, the trial's once per trial)."""
        name = trial.study.study_name
        key = (name, trial.number)
        if key not in self._trial_ids:
            if name not in self._study_ids:
                self._study_ids[name] = study_id(self.storage, name)
            if len(self._trial_ids) >= 1024:  # a long-lived worker: keep the recent ones only
                self._trial_ids.clear()
            self._trial_ids[key] = trial_id(self.storage, trial.study, trial.number, self._study_ids[name])
        return self._trial_ids[key]

    def _mark(self, trial: optuna.Trial, config: Any) -> None:
        attrs = {
            "config": to_dict(config),
            "config_hash": config_hash(config),
            "seed": getattr(config, "seed", None),
            "device": self.device,
            **({"device_name": self.device_name} if self.device_name else {}),
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "launch_id": self.launch_id,
            "sampler_seed": self.sampler_seed,
            **provenance(),
        }
        write_run(self.storage, self.trial_id(trial), attrs)

    def start(self, trial: optuna.Trial) -> TrialRun:
        """The trial's run record, its clock started (no storage access yet)."""
        return TrialRun(trial, TrialReporter(trial, self.spec, self.stop, time.monotonic()))

    def taken_over(self, trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
        """``trial`` when it is no longer RUNNING although this
        worker did not finish it: its heartbeat went stale (a long database outage), another worker
        failed it and queued its retry. Telling it is refused; the worker goes on with the next one.
        None when the trial is still RUNNING or the storage cannot say."""
        try:
            frozen = get_trial(self.storage, self.trial_id(trial))
        except Exception:  # noqa: BLE001  cannot tell: the caller's original error stands
            return None
        return frozen if frozen.state.is_finished() else None

    def configure(self, run: TrialRun) -> None:
        """Suggest the trial's values and record its config; errors are the caller's to ``fail``."""
        run.config = build_config(self.spec, {p.name: suggest(run.trial, p) for p in self.spec.search_space})
        self._mark(run.trial, run.config)

    def context(self, workdir: Path) -> RunContext:
        return RunContext(device=self.device, workdir=workdir, threads=self.threads)

    def workdir(self, config: Any) -> Path:
        """A directory per config, kept when a trial fails, so that its retry (same config) can resume
        from the checkpoints it left (an IMP run continues at its last finished level)."""
        return Path(self.spec.study.artifacts).parent / "work" / config_hash(config)

    def timed(self, fn, *args, **kwargs):
        """Call ``fn`` counting its time as the experiment's own (the rest is service overhead)."""
        entered = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.busy_s += time.perf_counter() - entered

    def succeed(self, run: TrialRun, result: Result) -> list[float]:
        """Objective values from a finished run; stores its metrics and uploads its artifacts."""
        values = self._values(result.metrics)
        self._finish(run, result)
        self.failures.clear()
        return values

    def fail(self, run: TrialRun, err: BaseException) -> None:
        """Record why the trial did not complete (pruned, diverged, raised, interrupted, ...)."""
        if isinstance(err, optuna.TrialPruned):
            reason = str(err) or "pruned"
            self.failures.clear()  # it trained: the experiment works
        else:
            reason = str(err) if isinstance(err, ConfigError) else f"{type(err).__name__}: {err}"
            if not isinstance(err, (Interrupted, KeyboardInterrupt)):
                self.failures.append((run.trial.number, reason))
                del self.failures[: -max(1, self.spec.resources.max_consecutive_failures)]  # the streak the limit reads
            if fatal_device_error(err):
                self.fatal.append((run.trial.number, reason))
        self._record(run, reason=reason)

    def train_alone(self, run: TrialRun) -> list[float]:
        """Configure the trial, claim its configuration, reuse a COMPLETE twin's result or train,
        and record how it ended; its objective values, or the exception after it is recorded."""
        try:
            self.configure(run)
            workdir = self.workdir(run.config)
            # Another trial of this configuration (any launcher on this machine) is waited for:
            # one work directory, one training (search.trial.claims).
            with claim(lock_path(workdir), self._check_stop):
                return self._train_or_repeat(run, workdir)
        except (Exception, KeyboardInterrupt) as err:
            self.fail(run, err)
            raise

    def _train_or_repeat(self, run: TrialRun, workdir: Path) -> list[float]:
        """Under the configuration's claim: reuse a COMPLETE twin's result, else train. The work
        directory is removed, still under the claim, once it is of no use (finished or pruned);
        a failed trial's stays for its retry."""
        values = self.repeat(run)
        if values is None:
            workdir.mkdir(parents=True, exist_ok=True)
            try:
                result = self.timed(self._run, run, workdir)
            except optuna.TrialPruned:
                self._remove(workdir)
                raise
            values = self.succeed(run, result)
        self._remove(workdir)
        return values

    def members(self, run: TrialRun) -> list[tuple[Any, Any]]:
        """The (config, reporter) pairs the trial trains: one, or one per seed with ``study.replicates``."""
        n = self.spec.study.replicates
        if n == 1:
            return [(run.config, run.reporter)]
        run.replicates = ReplicateReporter(run.reporter, n)
        return [(cfg, run.replicates.seed(i)) for i, cfg in enumerate(replicate_configs(run.config, n))]

    def outcome(self, run: TrialRun, outcomes: list[Any]) -> Any:
        """The trial's Result or exception from its members' (search.trial.replicates.combine)."""
        n = self.spec.study.replicates
        stopped = run.replicates.error if run.replicates is not None else None
        return combine(outcomes, replicate_seeds(run.config, n) if n > 1 else [None], self.spec.study.metrics, stopped)

    def _run(self, run: TrialRun, workdir: Path) -> Result:
        """Train the trial through the core's one entry (:func:`core.replicates.train_configs`): its
        one configuration in ``workdir`` itself (resumable there), or its seed replicates batched
        where the kind can."""
        members = self.members(run)
        outcomes = train_configs(
            self.experiment, [c for c, _ in members], [r for _, r in members], self.context(workdir)
        )
        result = outcomes[0] if len(members) == 1 else self.outcome(run, outcomes)
        if isinstance(result, BaseException):
            raise result
        return result

    def repeat(self, run: TrialRun) -> list[float] | None:
        """When a COMPLETE trial has this run's configuration, record the run as its repeat
        (``repeat_of``, its metrics) and return its values; else None: the run must train."""
        twin = finished_twin(run.trial.study, config_hash(run.config), run.trial.number, self._check_stop)
        if twin is None:
            return None
        values, copied = repeat_result(read_record(twin).flat(), twin)
        self._record(run, result=copied)
        return values

    def _check_stop(self) -> None:
        """Called while a trial waits for its configuration's claim: the launcher's stop ends it."""
        if self.stop.is_set():
            raise Interrupted("interrupted by the launcher while waiting for the same configuration")

    @staticmethod
    def _remove(workdir: Path) -> None:
        """Remove a finished trial's work directory and its lock file (see ``search.trial.claims.claim``)."""
        shutil.rmtree(workdir, ignore_errors=True)
        lock_path(workdir).unlink(missing_ok=True)

    def _values(self, metrics: Mapping[str, float]) -> list[float]:
        values = []
        for name in self.spec.study.metrics:
            if name not in metrics:
                raise KeyError(
                    f"experiment {self.spec.kind!r} returned no metric {name!r}; it returned "
                    + ", ".join(sorted(metrics))
                )
            value = float(metrics[name])
            if not math.isfinite(value):
                raise Diverged(f"final {name} is {value}")
            values.append(value)
        return values

    def _record(self, run: TrialRun, reason: str = "", result: Mapping[str, Any] | None = None) -> None:
        """Write how the trial ended (``search.store.records.write_result``): ``result`` plus its wall time
        (which wins over the run's), history and ``reason``, in one transaction."""
        out = dict(result or {})
        out["wall_time_s"] = round(time.monotonic() - run.reporter.started, 3)
        if run.reporter.history:
            out["history"] = run.reporter.history
        if reason:
            out["fail_reason"] = reason[:1000]
        write_result(self.storage, self.trial_id(run.trial), out)

    def _finish(self, run: TrialRun, result: Result) -> None:
        trial = run.trial
        out: dict[str, Any] = {
            k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)
        }
        out.update(stored_extra(result))  # every metric per seed; each seed's run data
        errors = []
        for name, path in result.artifacts.items():
            if Path(path).is_file():
                try:
                    upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)
                except OSError as err:  # disk full, read-only, not a directory: the metrics are worth more
                    errors.append(f"{name}: {type(err).__name__}: {err.strerror or err}")
        if errors:  # the trial stays COMPLETE; the lost plots are said, not hidden
            out["artifact_error"] = "; ".join(errors)[:1000]
        self._record(run, result=out)
