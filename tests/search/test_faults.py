"""Nothing lost, nothing stuck: real launcher processes, real Ray workers, real storage."""

from __future__ import annotations

import os
import signal

import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from search.store import STALE_REASON, read_record
from tests.helpers import study_doc
from tests.search.faults import Launch, by_state, leftovers, reap, running_with_worker

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def _doc(name: str, storage: str, **experiment) -> dict:
    return study_doc(
        name,
        study={"storage": storage, "n_trials": 5},
        experiment={"steps": 8, "step_seconds": 0.4, **experiment},
        resources={"workers": 2, "heartbeat_interval": 1, "max_retries": 2},
    )


def _two_running(trials):
    return running if len(running := running_with_worker(trials)) == 2 else []


def test_killed_worker_trial_fails_is_retried_and_budget_is_met(write_study, storage_url, study_name) -> None:
    launch = Launch(write_study(_doc(study_name, storage_url)))
    victim = launch.wait_for("a running trial", running_with_worker)[0]
    os.kill(int(read_record(victim).worker.rsplit(":", 1)[1]), signal.SIGKILL)
    assert launch.finish() == 0, launch.output()

    trials = launch.trials()
    assert not by_state(trials, TrialState.RUNNING, TrialState.WAITING), launch.output()
    assert len(by_state(trials, *DONE)) >= 5
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    assert read_record(killed).fail_reason == STALE_REASON, "the dashboard shows why it failed"
    retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == victim.number]
    assert retries and retries[0].state == TrialState.COMPLETE and retries[0].params == killed.params


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-launcher", "sigint-terminal-group", "sigterm-launcher"],
)
def test_a_stop_signal_then_relaunch_leaves_nothing_running_and_meets_budget(write_study, tmp_path, sig, group) -> None:
    # SIGTERM is what `kill`, `docker compose stop`, systemd, Slurm and Kubernetes send: a stop request like Ctrl-C.
    path = write_study(_doc(f"stop-{sig.name}-{group}", f"sqlite:///{tmp_path}/study.db"))
    launch = Launch(path)
    running = launch.wait_for("two running trials", _two_running)
    launch.signal(sig, group=group)
    assert launch.finish(timeout=90) == 128 + sig, launch.output()
    assert f"{sig.name}: stopping" in launch.output()
    assert not leftovers(launch, wait=20), "the launcher's Ray processes outlived it"
    trials = launch.trials()
    assert not by_state(trials, TrialState.RUNNING), launch.output()
    interrupted = [t for t in by_state(trials, TrialState.FAIL) if "nterrupted" in (read_record(t).fail_reason or "")]
    # A trial may finish (or its worker start the next one) before the stop reaches the workers, so
    # not exactly 2: each trial running at the SIGINT ends COMPLETE or interrupted, none is lost.
    assert 1 <= len(interrupted) <= 2, launch.output()
    ended = {t.number: t.state for t in trials}
    assert all(
        ended[t.number] == TrialState.COMPLETE or t.number in {i.number for i in interrupted} for t in running
    ), launch.output()
    queued = by_state(trials, TrialState.WAITING)
    assert sorted(t.system_attrs["fixed_params"]["x"] for t in queued) == sorted(t.params["x"] for t in interrupted)

    again = Launch(path)
    assert again.finish() == 0, again.output()
    trials = again.trials()
    assert not by_state(trials, TrialState.RUNNING, TrialState.WAITING)
    assert 5 <= len(by_state(trials, *DONE)) <= 6
    done_x = {t.params["x"] for t in by_state(trials, *DONE)}
    assert all(t.params["x"] in done_x for t in interrupted), "interrupted configurations were run again"


def test_ray_restarts_a_killed_worker_and_it_pulls_further_trials(write_study, tmp_path) -> None:
    """One worker only: after its kill -9 nothing but the worker Ray restarts can meet the budget."""
    doc = _doc("restart", f"sqlite:///{tmp_path}/study.db")
    doc["study"]["n_trials"], doc["resources"]["workers"] = 2, 1
    launch = Launch(write_study(doc), cwd=tmp_path)
    try:
        victim = launch.wait_for("a running trial", running_with_worker)[0]
        os.kill(int(read_record(victim).worker.rsplit(":", 1)[1]), signal.SIGKILL)
        assert launch.finish() == 0, launch.output()
    finally:
        reap(launch)
    trials = launch.trials()
    assert trials[victim.number].state == TrialState.FAIL and len(by_state(trials, TrialState.COMPLETE)) == 2
    later = [t for t in trials if t.number != victim.number]
    workers = {read_record(t).worker for t in later}
    assert len(workers) == 1 and read_record(victim).worker not in workers, "a new worker process ran them"


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_stop_signal_stops_at_once_and_leaves_nothing_running(write_study, tmp_path, first) -> None:
    """The first Ctrl-C waits for the running trials' next step (20 s away here); the second must
    not: the trials end without a step, failed and queued again by the launcher itself."""
    doc = study_doc(
        f"twice-{first.name}",
        study={"storage": f"sqlite:///{tmp_path}/study.db", "n_trials": 4},
        experiment={"steps": 2, "step_seconds": 20},
        resources={"workers": 2, "heartbeat_interval": 1},
    )
    launch = Launch(write_study(doc), cwd=tmp_path)
    try:
        running = launch.wait_for("two running trials", _two_running)
        launch.signal(first)
        launch.wait_for("the first signal to be seen", lambda ts: "again to stop now" in launch.output())
        launch.signal(signal.SIGTERM if first == signal.SIGINT else signal.SIGINT)  # either kind stops at once
        assert launch.finish(timeout=120) == 128 + first, launch.output()
    finally:
        reap(launch)
    assert "stopping now" in launch.output()
    trials = launch.trials()
    assert not by_state(trials, TrialState.RUNNING), launch.output()
    for t in running:  # not "interrupted by the launcher at step 1": no step ended
        ended = trials[t.number]
        assert ended.state == TrialState.FAIL and not read_record(ended).history, launch.output()
        assert read_record(ended).fail_reason == "interrupted: the launcher stopped before the trial ended"
    queued = by_state(trials, TrialState.WAITING)
    assert sorted(t.system_attrs["fixed_params"]["x"] for t in queued) == sorted(t.params["x"] for t in running)


def test_nan_and_raising_trials_fail_with_reason_and_search_goes_on(write_study, tmp_path) -> None:
    doc = study_doc(
        "bad-trials",
        study={
            "storage": f"sqlite:///{tmp_path}/study.db",
            "n_trials": 1,
            "enqueue": [{"fail": "nan"}, {"fail": "raise"}, {"fail": "none"}],
        },
        experiment={"fail_at_step": 2},
        resources={"workers": 1},
    )
    doc["search_space"] = {"fail": {"type": "categorical", "choices": ["none", "nan", "raise"]}}
    launch = Launch(write_study(doc))
    assert launch.finish() == 0, launch.output()
    nan, raised, good = launch.trials()
    assert nan.state == raised.state == TrialState.FAIL and good.state == TrialState.COMPLETE
    assert read_record(nan).fail_reason == "Diverged: loss is nan at step 2"
    assert read_record(raised).fail_reason == "RuntimeError: synthetic failure at step 2"
    assert list(read_record(nan).history) == [{"step": 1, "loss": pytest.approx(read_record(good).history[0]["loss"])}]
