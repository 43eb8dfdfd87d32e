"""The peers of benchmarks/bench_service.py, and the storage writes of one trial.

One definition of overhead for all: 1 - (time inside the trials' work) / (the workers' wall time
added up). A worker's wall time runs from when it can start pulling trials to when it is done:
a service worker from connecting to its last trial, a plain Optuna process from ``load_study`` to
the end of ``study.optimize``, a Ray Tune slot for the whole ``Tuner.fit()`` (concurrency x its
wall time). The work is the same: ``steps`` sleeps of ``trial_s / steps`` seconds, each followed
by a report (``trial.report`` + ``should_prune``, or ``tune.report``).

Peers need the benchmark extra (``pip install -e .[bench]``: ray[tune]).
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import tempfile
import time
import uuid
from unittest import mock

import optuna
import sqlalchemy

from search.store import open_storage

__all__ = ["optuna_processes", "ray_tune", "writes_per_trial"]

_TRIALS = 4  # trials counted per row
LAYOUTS = ("batched", "per attribute")  # the service's attributes: two transactions, or one commit each


def _one_commit_per_attribute(storage, tid: int, attrs) -> None:
    for key, value in attrs.items():
        storage.set_trial_user_attr(tid, key, value)


def writes_per_trial(layout: str | None, steps: int = 5) -> dict[str, float]:
    """Writes (INSERT/UPDATE/DELETE statements), user-attribute inserts and commits of one trial on
    SQLite: run by a service worker (in this process) with ``layout`` ("batched": as it runs, each
    group of attributes in one transaction; "per attribute": the same attributes, one commit each,
    as before the lean JSON layout, patched in here only), or by plain ``study.optimize`` with the same
    parameters and reports (``layout=None``: Optuna's own)."""
    counts: collections.Counter = collections.Counter()

    def commit(_conn) -> None:
        counts["commit"] += 1

    def execute(_conn, _cursor, statement, *_args) -> None:
        words = statement.split()
        if words and words[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            counts["write"] += 1
            counts["attrs"] += words[:3] == ["INSERT", "INTO", "trial_user_attributes"]

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/w.db"
        run = _service_trials if layout else _plain_trials
        patched = (
            mock.patch("search.store.records.set_user_attrs", _one_commit_per_attribute)
            if layout == "per attribute"
            else contextlib.nullcontext()
        )
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", commit)
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", execute)
        try:
            with patched:
                run(url, tmp, steps)
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", commit)
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", execute)
    return {k: v / _TRIALS for k, v in counts.items()} | {"attrs": counts["attrs"] / _TRIALS}


def _service_trials(url: str, tmp: str, steps: int) -> None:
    from search.launch import StudyWorker, prepare_study
    from search.studyfile import parse_spec

    spec = parse_spec(_doc(url, tmp, steps))
    prepare_study(spec)
    StudyWorker(spec, index=0, launch_id="w", deadline=None).run()


def _doc(url: str, tmp: str, steps: int) -> dict:
    return {
        "study": {
            "name": "w",
            "storage": url,
            "artifacts": f"{tmp}/artifacts",
            "direction": "minimize",
            "metric": "loss",
            "n_trials": _TRIALS,
            "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "none"},
        },
        "experiment": {"kind": "synthetic", "steps": steps, "step_seconds": 0.0},
        "search_space": {"x": {"type": "float", "low": -3, "high": 3}, "y": {"type": "float", "low": -3, "high": 3}},
        "resources": {"workers": 1},
    }


def _plain_trials(url: str, _tmp: str, steps: int) -> None:
    study = optuna.create_study(study_name="w", storage=open_storage(url, create_dirs=True))
    study.optimize(_Objective(0.0, steps), n_trials=_TRIALS)


class _Objective:
    """The synthetic trial for study.optimize; ``busy`` adds up the time inside its work."""

    def __init__(self, trial_s: float, steps: int) -> None:
        self.step_s, self.steps, self.busy = trial_s / steps, steps, 0.0

    def __call__(self, trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
        loss = (x - 2) ** 2 + (y + 1) ** 2
        for step in range(1, self.steps + 1):
            started = time.perf_counter()
            time.sleep(self.step_s)
            self.busy += time.perf_counter() - started
            trial.report(loss + 1.0 / step, step)
            trial.should_prune()
        return loss


def _optuna_process(url: str, name: str, trial_s: float, steps: int, n: int, out) -> None:
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(url), sampler=optuna.samplers.RandomSampler())
    objective = _Objective(trial_s, steps)
    study.optimize(objective, n_trials=n)
    out.put({"wall_s": time.perf_counter() - started, "busy_s": objective.busy})


def optuna_processes(storage: str, *, workers: int, trial_s: float, steps: int, per_worker: int) -> dict:
    """``workers`` processes running ``study.optimize`` on one study in the shared storage."""
    with tempfile.TemporaryDirectory() as tmp:
        url, name = storage.replace("{tmp}", tmp), f"peer-{uuid.uuid4().hex[:10]}"
        optuna.create_study(study_name=name, storage=open_storage(url, create_dirs=True))
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        started = time.perf_counter()
        procs = [
            ctx.Process(target=_optuna_process, args=(url, name, trial_s, steps, per_worker, out))
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        stats = [out.get() for _ in procs]
        for p in procs:
            p.join()
        trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    return _row(
        stats,
        trials=len(trials),
        failed=sum(t.state.name == "FAIL" for t in trials),
        launch_s=time.perf_counter() - started,
    )


def _row(stats: list[dict], **fields) -> dict:
    wall = sum(s["wall_s"] for s in stats)
    return {"overhead": 1.0 - sum(s["busy_s"] for s in stats) / wall if wall > 0 else 0.0, **fields}


def _tune_trial(config: dict) -> None:
    from ray import tune

    step_s, busy = config["trial_s"] / config["steps"], 0.0
    loss = (config["x"] - 2) ** 2 + (config["y"] + 1) ** 2
    for step in range(1, config["steps"] + 1):
        started = time.perf_counter()
        time.sleep(step_s)
        busy += time.perf_counter() - started
        tune.report({"loss": loss + 1.0 / step, "busy_s": busy})


def ray_tune(_storage: str, *, workers: int, trial_s: float, steps: int, per_worker: int) -> dict:
    """Ray Tune with OptunaSearch (Optuna in memory), ``workers`` concurrent trials, reused actors."""
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    with tempfile.TemporaryDirectory() as tmp:
        ray.init(num_cpus=max(os.cpu_count() or 1, workers), include_dashboard=False, logging_level="WARNING")
        try:
            space = {"x": tune.uniform(-3, 3), "y": tune.uniform(-3, 3), "trial_s": trial_s, "steps": steps}
            tuner = tune.Tuner(
                tune.with_resources(_tune_trial, {"cpu": min(1.0, 2.0 / workers)}),
                param_space=space,
                tune_config=tune.TuneConfig(
                    search_alg=OptunaSearch(metric="loss", mode="min", seed=0),
                    num_samples=per_worker * workers,
                    max_concurrent_trials=workers,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(storage_path=tmp, verbose=0),
            )
            started = time.perf_counter()
            results = tuner.fit()
            wall = time.perf_counter() - started
        finally:
            ray.shutdown()
    busy = sum(r.metrics.get("busy_s", 0.0) for r in results if r.metrics)
    failed = sum(r.error is not None for r in results)
    return _row([{"wall_s": wall * workers, "busy_s": busy}], trials=len(results), failed=failed, launch_s=wall)
