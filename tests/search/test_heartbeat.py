"""No RUNNING trial without a heartbeat is left behind, and heartbeats go on through database errors.

The CI run that found this: PostgreSQL restarted while a worker was inside ``study.ask()``; the
trial it had just created never got a heartbeat, Optuna never saw it as stale, and the study
waited for it for ever."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from search.launch import prepare_study
from search.store import Heartbeats, adopt_orphans, fail_stale, open_storage
from search.studyfile import parse_spec
from tests.helpers import study_doc
from tests.search.faults import Launch, by_state, outage_error

pytestmark = [
    pytest.mark.slow,  # every test waits out heartbeat grace periods
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning"),
]  # ask() on purpose
INTERVAL = 1  # grace period 3 s


def _study(url: str, name: str) -> optuna.Study:
    storage = open_storage(url, heartbeat_interval=INTERVAL, max_retries=2, create_dirs=True)
    study = optuna.create_study(study_name=name, storage=storage)
    study.rdb = storage  # the RDB storage itself (search.store.studies takes it; the study wraps it in a cache)
    return study


def _wait(predicate, what: str, timeout: float = 30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if found := predicate():
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_orphan_is_failed_and_retried_a_grace_period_after_adoption(storage_url, study_name) -> None:
    study = _study(storage_url, study_name)
    orphan = study.ask()  # RUNNING, no heartbeat: what a worker that died inside ask() leaves
    orphan.suggest_float("x", 0, 1)
    live = study.ask()
    study._storage.record_heartbeat(live._trial_id)

    time.sleep(3 * INTERVAL + 1.5)  # SQLite keeps heartbeats to the second
    optuna.storages.fail_stale_trials(study)  # Optuna alone: the live one is stale, the orphan never is
    states = {t.number: t.state for t in study.get_trials()}
    assert states[orphan.number] == TrialState.RUNNING and states[live.number] == TrialState.FAIL

    assert fail_stale(study, study.rdb) == [orphan.number]
    assert study.get_trials()[orphan.number].state == TrialState.RUNNING  # a grace period first
    assert adopt_orphans(study.rdb, study) == []  # adopted once: it has a heartbeat now

    def failed():
        fail_stale(study, study.rdb)
        return study.get_trials()[orphan.number].state == TrialState.FAIL

    _wait(failed, "the adopted orphan to be failed")
    retries = [
        t
        for t in by_state(study.get_trials(), TrialState.WAITING)
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == orphan.number
    ]
    assert len(retries) == 1 and retries[0].params == orphan.params


def test_a_trial_kept_alive_by_its_worker_is_not_failed_after_adoption(tmp_path) -> None:
    study = _study(f"sqlite:///{tmp_path}/s.db", "alive")
    trial = study.ask()
    assert fail_stale(study, study.rdb) == [trial.number]
    with Heartbeats(study.rdb, [trial._trial_id], INTERVAL):  # its worker's heartbeat starts late
        deadline = time.monotonic() + 3 * INTERVAL + 2
        while time.monotonic() < deadline:
            fail_stale(study, study.rdb)
            time.sleep(0.3)
    assert study.get_trials()[trial.number].state == TrialState.RUNNING


def test_a_trial_added_to_running_heartbeats_beats_at_once(tmp_path) -> None:
    """A population adds each member as it is asked, so none is an orphan while the others are asked."""
    study = _study(f"sqlite:///{tmp_path}/s.db", "added")
    with Heartbeats(study.rdb, [], 60) as beats:
        for _ in range(3):
            beats.add(study.ask()._trial_id)
            assert adopt_orphans(study.rdb, study) == []
    assert beats.trial_ids == [t._trial_id for t in study.get_trials()]


class _Flaky:
    """A real storage whose first ``failures`` heartbeats fail as a restarting database makes them."""

    def __init__(self, storage, failures: int) -> None:
        self.storage, self.failures = storage, failures
        self.get_heartbeat_interval = storage.get_heartbeat_interval

    def record_heartbeat(self, trial_id: int) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise outage_error("UPDATE")
        self.storage.record_heartbeat(trial_id)


def test_heartbeats_go_on_after_database_errors(tmp_path, monkeypatch) -> None:
    import search.store.heartbeats as heartbeat

    study = _study(f"sqlite:///{tmp_path}/s.db", "flaky")
    trial = study.ask()
    flaky = _Flaky(study.rdb, failures=2)
    monkeypatch.setattr(heartbeat, "_has_heartbeats", lambda storage: True)
    with Heartbeats(flaky, [trial._trial_id], 0.1) as beats:
        _wait(lambda: flaky.failures == 0 and adopt_orphans(study.rdb, study) == [], "a heartbeat after the errors")
    assert beats.errors == 2


def test_an_in_memory_storage_has_no_heartbeats_to_keep() -> None:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.rdb = optuna.storages.InMemoryStorage()
    trial = study.ask()
    with Heartbeats(study.rdb, [trial._trial_id], 0.1) as beats:
        pass
    assert not beats.enabled and beats.errors == 0 and adopt_orphans(study.rdb, study) == []


def test_optunas_heartbeat_schema_is_as_expected() -> None:
    """search.store.heartbeats.adopt_orphans queries Optuna's private schema (Optuna 5 has no public query for
    RUNNING trials without a heartbeat). An Optuna upgrade that moves or renames it fails here, by name."""
    from optuna.storages._rdb import models

    for model, columns in (
        (models.TrialModel, ("trial_id", "number", "study_id", "state")),
        (models.TrialHeartbeatModel, ("trial_heartbeat_id", "trial_id", "heartbeat")),
    ):
        missing = [c for c in columns if not hasattr(model, c)]
        assert not missing, (
            f"optuna {optuna.__version__}: {model.__name__} lost {missing}; update search.store.heartbeats"
        )


def _launch_after_an_orphan(write_study, name: str, study: dict) -> list:
    """Launch a 1-worker study whose storage already holds an orphan; the trials at the end."""
    path = write_study(study_doc(name, study=study, resources={"workers": 1, "heartbeat_interval": INTERVAL}))
    orphan = prepare_study(parse_spec(yaml.safe_load(path.read_text()))).ask()
    launch = Launch(path)
    assert launch.finish(timeout=240) == 0, launch.output()
    trials = launch.trials()
    assert trials[orphan.number].state == TrialState.FAIL and not by_state(trials, TrialState.RUNNING)
    return trials


@pytest.mark.slow
def test_a_launch_does_not_wait_for_ever_on_an_orphan(write_study) -> None:
    """The budget counts RUNNING trials as on their way; an orphan must not hold a slot for ever."""
    trials = _launch_after_an_orphan(write_study, "orphan", {"n_trials": 2})
    assert len(by_state(trials, TrialState.COMPLETE)) == 2


@pytest.mark.slow
def test_a_study_with_only_a_time_limit_ends_without_an_orphan_running(write_study) -> None:
    """No budget, so workers never wait on RUNNING trials: they adopt orphans as they go, and
    the launcher fails what is left before it exits."""
    trials = _launch_after_an_orphan(write_study, "orphan-timeout", {"n_trials": None, "timeout": 6})
    assert by_state(trials, TrialState.COMPLETE)


def test_a_worker_whose_trial_was_failed_as_stale_goes_on(tmp_path, capsys) -> None:
    """A database away for longer than the grace period: another worker failed this worker's
    trial while it trained. The late tell is refused; the worker must go on, not die."""
    from search.launch import StudyWorker

    spec = parse_spec(
        study_doc(
            "taken",
            study={"storage": f"sqlite:///{tmp_path}/s.db", "n_trials": 2, "artifacts": str(tmp_path / "artifacts")},
            experiment={"steps": 6, "step_seconds": 0.2},
            resources={"workers": 1},
        )
    )
    study = prepare_study(spec)

    def take_over() -> None:
        first = _wait(lambda: by_state(study.get_trials(), TrialState.RUNNING), "a running trial")[0]
        study._storage.set_trial_state_values(first._trial_id, TrialState.FAIL)

    thief = threading.Thread(target=take_over)
    thief.start()
    stats = StudyWorker(spec, index=0, launch_id="t", deadline=None).run()
    thief.join()
    assert "was failed as stale while it ran" in capsys.readouterr().err
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert stats["trials"] == 2
