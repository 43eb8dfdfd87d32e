"""Worker start-up rides out a database that is restarting; other errors still surface."""

from __future__ import annotations

import pytest
import sqlalchemy

import search.worker as worker
from search.storage import StorageUnavailable


def _down_then_up(failures: int, calls: list):
    def connect():
        calls.append(1)
        if len(calls) <= failures:
            try:
                raise sqlalchemy.exc.OperationalError("connect", {}, Exception("the database system is starting up"))
            except sqlalchemy.exc.OperationalError:
                raise StorageUnavailable("cannot open storage") from None  # as open_storage raises it
        return "connected"

    return connect


def test_a_worker_starting_during_an_outage_waits_for_the_database(monkeypatch, capsys) -> None:
    monkeypatch.setattr(worker, "_OUTAGE_POLL_S", 0.01)
    calls: list = []
    assert worker._outage_tolerant(_down_then_up(2, calls), 0) == "connected" and len(calls) == 3
    assert capsys.readouterr().err.count("storage unavailable, retrying") == 2


def test_an_outage_longer_than_the_limit_and_other_errors_are_raised(monkeypatch) -> None:
    monkeypatch.setattr(worker, "_OUTAGE_POLL_S", 0.01)
    monkeypatch.setattr(worker, "STORAGE_OUTAGE_S", 0.0)
    with pytest.raises(StorageUnavailable):
        worker._outage_tolerant(_down_then_up(5, []), 0)

    def bug():
        raise KeyError("not an outage")

    with pytest.raises(KeyError):
        worker._outage_tolerant(bug, 0)
