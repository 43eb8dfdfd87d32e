"""Workers ride out a database that is restarting (at start-up and between trials); other
errors, and outages longer than the limit, still surface."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

import search.launch.worker as worker
import search.store.storage as storage
from search.launch import prepare_study
from search.store import StorageUnavailable
from search.studyfile import parse_spec
from tests.helpers import study_doc
from tests.search.faults import outage_error

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _down_then_up(failures: int, calls: list):
    def connect():
        calls.append(1)
        if len(calls) <= failures:
            try:
                raise outage_error("connect", "the database system is starting up")
            except sqlalchemy.exc.OperationalError:
                raise StorageUnavailable("cannot open storage") from None  # as open_storage raises it
        return "connected"

    return connect


def test_a_worker_starting_during_an_outage_waits_for_the_database(monkeypatch, capsys) -> None:
    monkeypatch.setattr(storage, "OUTAGE_POLL_S", 0.01)
    calls: list = []
    assert storage.through_outage(_down_then_up(2, calls), "worker 0") == "connected" and len(calls) == 3
    assert capsys.readouterr().err.count("storage unavailable, retrying") == 2


def test_an_outage_longer_than_the_limit_and_other_errors_are_raised(monkeypatch) -> None:
    monkeypatch.setattr(storage, "OUTAGE_POLL_S", 0.01)
    monkeypatch.setattr(storage, "STORAGE_OUTAGE_S", 0.0)
    with pytest.raises(StorageUnavailable):
        storage.through_outage(_down_then_up(5, []), "worker 0")

    def bug():
        raise KeyError("not an outage")

    with pytest.raises(KeyError):
        storage.through_outage(bug, "worker 0")


def _worker(tmp_path, monkeypatch, failures: int, error=outage_error):
    """A worker whose first ``failures`` budget queries fail as a restarting database makes them fail."""
    spec = parse_spec(
        study_doc(
            "outage",
            study={
                "storage": f"sqlite:///{tmp_path}/study.db",
                "n_trials": 2,
                "artifacts": str(tmp_path / "artifacts"),
            },
            experiment={"steps": 1},
        )
    )
    prepare_study(spec)
    calls = {"n": 0}
    real = worker.budget_counts

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error()
        return real(*args)

    monkeypatch.setattr(worker, "budget_counts", flaky)
    monkeypatch.setattr(storage, "OUTAGE_POLL_S", 0.01)
    return worker.StudyWorker(spec, index=0, launch_id="t", deadline=None), spec


def test_worker_rides_out_a_storage_outage(tmp_path, monkeypatch, capsys) -> None:
    w, spec = _worker(tmp_path, monkeypatch, failures=3)
    assert w.run()["trials"] == 2
    assert capsys.readouterr().err.count("storage unavailable, retrying") == 3
    study = optuna.load_study(study_name="outage", storage=spec.study.storage)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2


def test_worker_still_fails_on_other_errors_and_on_long_outages(tmp_path, monkeypatch) -> None:
    w, _ = _worker(tmp_path, monkeypatch, failures=1, error=lambda: KeyError("a bug"))
    with pytest.raises(KeyError):
        w.run()
    monkeypatch.setattr(storage, "STORAGE_OUTAGE_S", 0.0)
    (tmp_path / "b").mkdir()
    w, _ = _worker(tmp_path / "b", monkeypatch, failures=1)
    with pytest.raises(Exception, match="shutting down"):
        w.run()


def test_storage_outage_sees_through_optunas_masking_error() -> None:
    try:
        try:
            raise outage_error()
        except Exception:
            raise UnboundLocalError("cannot access local variable 'updated_state'")  # noqa: B904
    except UnboundLocalError as masked:
        assert "shutting down" in str(storage.storage_outage(masked))
    assert storage.storage_outage(UnboundLocalError("a real bug")) is None
