"""``python -m search.launch studies/NAME.yaml``: create or resume a study and run it on Ray.

1. validate the study file (a mistake: one line on stderr, exit status 2, nothing created);
2. create the study in its storage, or load it when it exists (resume), enqueue known configs;
3. start a local Ray, or attach to ``--ray-address``; start ``resources.workers`` actors that
   pull trials from the shared storage until the study's budget is met;
4. show progress (and, with ``--dashboard``, serve optuna-dashboard on the study meanwhile); on Ctrl-C
   or SIGTERM (``kill``, ``docker compose stop``, a scheduler's preemption) ask the workers to stop
   (running trials end as FAIL and are queued again for the next launch), a second Ctrl-C or
   SIGTERM stops at once; no trial is left RUNNING;
5. print the summary. Exit status: 0 done, 2 bad input, 130 interrupted by Ctrl-C (SIGINT),
   143 by SIGTERM, 1 every worker failed or stopped because its trials kept failing
   (``resources.max_consecutive_failures`` in a row).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import time
import uuid

import optuna
from optuna.trial import TrialState

from core.errors import DataError
from search.cli import add_storage, add_study_file, input_error
from search.dashboard import DEFAULT_HOST, DEFAULT_PORT, DashboardError, DashboardProcess
from search.launch.control import Stopper, drop_unplaced, launch_done
from search.launch.prepare import (
    absolute_paths,
    check_local_data,
    check_local_gpus,
    prepare,
    start_ray,
    workers_that_fit,
)
from search.launch.worker import DeviceUnavailable, StudyWorker, overhead
from search.report import Progress, summary, write_report
from search.store import (
    StorageUnavailable,
    fail_running,
    fail_stale,
    public_url,
    read_record,
    requeue_interrupted,
    storage_outage,
    study_id,
)
from search.studyfile import SpecError, StudySpec, load_spec

__all__ = ["LaunchResult", "add_arguments", "main", "run", "run_args"]

STOP_GRACE_S = 60.0
POLL_S = 2.0


def _fail_leftovers(storage, study: optuna.Study, launch_id: str, reason: str) -> int:
    """Mark this launch's RUNNING trials FAIL (their workers are gone) and queue them again."""
    return fail_running(storage, study, reason, lambda t: read_record(t).launch_id == launch_id)


def _requeue_interrupted(study: optuna.Study, launch_id: str) -> int:
    """Interrupted trials were not the trial's fault: queue their parameters for the next launch."""
    mine = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if (r := read_record(t)).launch_id == launch_id
        and str(r.fail_reason or "").startswith(("Interrupted", "interrupted"))
    ]
    return requeue_interrupted(study, mine)


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    """Exit status and each worker's time accounting (trials, wall_s, busy_s)."""

    code: int
    workers: tuple[dict, ...] = ()


def _report(study: optuna.Study, spec: StudySpec) -> None:
    """The morning report; a plotting problem must not turn a finished study into a failure."""
    try:
        print(f"report written: {write_report(study, spec)}", flush=True)
    except Exception as err:  # noqa: BLE001 (reported, never fatal)
        print(f"report not written: {type(err).__name__}: {err}", file=sys.stderr, flush=True)


def run(spec: StudySpec, dashboard: tuple[str, int] | None = None) -> LaunchResult:
    """Run the study to its budget (or deadline, or Ctrl-C); see the module docstring.

    ``dashboard=(host, port)`` serves optuna-dashboard on the study while it runs.
    """
    spec = absolute_paths(spec)
    check_local_gpus(spec)  # before the study exists: bad input must leave nothing behind
    check_local_data(spec)
    study, created, storage = prepare(spec)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.get_trials(deepcopy=False))
    if spec.study.n_trials is not None and finished >= spec.study.n_trials:
        print(
            f"study {spec.study.name!r} already has {finished} finished trials (budget "
            f"{spec.study.n_trials}); raise study.n_trials to run more",
            flush=True,
        )
        print(summary(study, spec), flush=True)
        return LaunchResult(0)
    with contextlib.ExitStack() as stack:
        if dashboard is not None:
            url = stack.enter_context(DashboardProcess(spec, host=dashboard[0], port=dashboard[1]))
            print(f"dashboard: {url}  (open it in a browser; it stops when the launch ends)", flush=True)
        return _drive(spec, study, created, storage)


def _poll(progress: Progress) -> None:
    """Progress is only a display: while the database restarts, say so and carry on."""
    try:
        progress.poll()
    except Exception as err:  # noqa: BLE001  re-raised unless the storage is unreachable
        if storage_outage(err) is None:
            raise
        print("progress: storage unavailable, retrying", file=sys.stderr, flush=True)


def _drive(spec: StudySpec, study: optuna.Study, created: bool, storage) -> LaunchResult:
    """Start Ray and the workers, follow progress until they end, then clean up and summarise."""
    import ray

    started_ray = start_ray(spec)
    launch_id = uuid.uuid4().hex[:12]
    sid = study_id(storage, spec.study.name)  # for the budget's count query
    deadline = time.time() + spec.study.timeout_s if spec.study.timeout_s else None
    res = spec.resources
    remote = ray.remote(StudyWorker).options(
        num_cpus=res.cpus_per_trial,
        num_gpus=res.gpus_per_trial,
        max_restarts=-1,
        max_task_retries=-1,
        max_concurrency=2,
    )
    cluster = ray.cluster_resources()
    if (fit := workers_that_fit(spec, cluster)) < res.workers:
        print(
            f"resources.workers: the cluster places {fit} of {res.workers} workers at once "
            f"({res.cpus_per_trial:g} CPU, {res.gpus_per_trial:g} GPU each; it has {cluster.get('CPU', 0):g} "
            f"CPUs, {cluster.get('GPU', 0):g} GPUs): the others start if nodes join, and are not waited for",
            file=sys.stderr,
            flush=True,
        )
    actors = [
        remote.remote(spec, index=i, launch_id=launch_id, deadline=deadline, created_study=created)
        for i in range(res.workers)
    ]
    pending = {actor.run.remote(): actor for actor in actors}
    placed = {actor: actor.ping.remote() for actor in actors}  # answers once Ray has placed the actor
    print(
        f"study {spec.study.name!r} on {public_url(spec.study.storage)}: {res.workers} workers, "
        f"budget {spec.study.n_trials or '-'} trials, launch {launch_id}",
        flush=True,
    )
    progress, stopper, failed, gave_up, stats = Progress(study, spec), Stopper(), 0, 0, []
    device_error: str | None = None  # a worker's torch cannot use the GPU share it was given
    # Installed after Ray started: its driver would otherwise abort on SIGTERM (exit 134, trials left RUNNING).
    previous = {sig: signal.signal(sig, stopper) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asked = False
        while pending and stopper.requests < 2:
            if stopper.requests == 1 and not asked:
                for actor in actors:
                    actor.stop.remote()
                asked, stop_by = True, time.monotonic() + STOP_GRACE_S
            done, _ = ray.wait(list(pending), timeout=POLL_S)
            for ref in done:
                pending.pop(ref)
                try:
                    stats.append(ray.get(ref))
                    if stats[-1].get("gave_up"):
                        gave_up += 1
                        print(
                            f"worker {stats[-1]['worker']} stopped: {stats[-1]['gave_up']}", file=sys.stderr, flush=True
                        )
                except Exception as err:  # a worker that cannot run at all (storage gone, bad setup)
                    failed += 1
                    if isinstance(err, DeviceUnavailable):  # Ray's error is also an instance of the cause
                        device_error = str(err.cause) if hasattr(err, "cause") else str(err)
                    else:
                        print(f"worker failed: {str(err).strip().splitlines()[-1]}", file=sys.stderr, flush=True)
            _poll(progress)
            if asked and time.monotonic() > stop_by:
                break
            # never placed (no room): nothing to wait for once the budget is met or a stop asked
            drop_unplaced(pending, placed, lambda asked=asked: asked or launch_done(spec, storage, sid, deadline))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_ray:
            ray.shutdown()
    left = _fail_leftovers(storage, study, launch_id, "interrupted: the launcher stopped before the trial ended")
    # Workers that could not run at all cannot fail the stale trials a killed launch left behind.
    # Orphans (RUNNING with no heartbeat at all) get one here. Any RUNNING trial left now is either
    # beaten for by a live worker of another launch, or an orphan adopted (by us or a worker) less
    # than a grace period ago: wait one grace period, so the second is failed before we exit.
    if fail_stale(study, storage) or study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        time.sleep(3 * res.heartbeat_interval + 2)  # the grace period, plus SQLite's whole seconds
        fail_stale(study, storage)
    requeued = _requeue_interrupted(study, launch_id) if stopper.requests else 0
    progress.poll(final=True)
    print(summary(study, spec), flush=True)
    _report(study, spec)
    if stats:
        print(
            f"workers: {sum(s['trials'] for s in stats)} trials run, {overhead(stats):.1%} of worker time "
            "outside the experiment (storage, sampling, waiting)",
            flush=True,
        )
        trained, slots = (sum(s.get("fill", (0, 0))[k] for s in stats) for k in (0, 1))
        if slots:
            print(f"populations: {trained / slots:.1%} full on average ({trained} member-epochs in {slots} slots)")
    if stopper.requests:
        print(f"interrupted: {left + requeued} trials queued again; run the same command to resume", flush=True)
        return LaunchResult(stopper.code, tuple(stats))
    ran = len(stats) + failed  # the workers that were placed and ended (a result or an error)
    if device_error is not None and not stats:
        print(f"error: {spec.source}: {device_error}", file=sys.stderr, flush=True)
        return LaunchResult(2, tuple(stats))
    if gave_up and failed + gave_up == ran:
        print(
            "stopped: every worker's trials kept failing (the cause is above); fix it and run the same "
            "command: failed trials do not use up the budget (resources.max_consecutive_failures)",
            file=sys.stderr,
            flush=True,
        )
    return LaunchResult(1 if ran and failed + gave_up == ran else 0, tuple(stats))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Description and options of ``python -m search.launch`` (also ``sparsesearch launch``) on ``p``."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_study_file(p)
    add_storage(p)
    p.add_argument("--ray-address", help="attach to this Ray cluster (host:port) instead of starting one")
    p.add_argument("--dashboard", action="store_true", help="serve optuna-dashboard on the study while it runs")
    p.add_argument("--dashboard-host", default=DEFAULT_HOST, help="dashboard address (default 127.0.0.1)")
    p.add_argument("--dashboard-port", type=int, default=DEFAULT_PORT, help="dashboard port (default 8080)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.launch")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run_args(_parser().parse_args(argv))


def run_args(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        spec = load_spec(args.study_file, storage=args.storage, ray_address=args.ray_address)
        return run(spec, (args.dashboard_host, args.dashboard_port) if args.dashboard else None).code
    except (SpecError, StorageUnavailable, DashboardError, DataError) as err:
        return input_error(args.study_file, err)
