"""Heartbeats that outlive a database blip, and no RUNNING trial left without one, or stale without a word.

Optuna fails a RUNNING trial as stale only when it *has* a heartbeat that stopped: a trial whose
worker died (or lost the database) after ``study.ask()`` created it but before its first heartbeat
was written has none, and would stay RUNNING for ever, holding a slot of the budget.
:func:`fail_stale` closes that gap: it gives every such orphan one heartbeat (the database's clock),
so that a grace period later, unless a live worker keeps beating for it, it is failed as stale and
the study's ``RetryHeartbeatStaleTrialCallback`` queues its retry; every stale trial is failed with
a ``fail_reason`` saying why. Optuna's heartbeat thread ends at the first error it meets;
:class:`Heartbeats` keeps beating through errors instead.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Self

import optuna

# Private, on purpose and only here: Optuna 5 has no public query for "RUNNING trials without a
# heartbeat" (adopt_orphans) nor for the stale trials it is about to fail (_fail_stale_trials).
# tests/search/test_heartbeat.py::test_optunas_heartbeat_schema_is_as_expected fails loudly when an
# Optuna upgrade moves or renames these.
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.storages._rdb import models
from optuna.trial import TrialState
from sqlalchemy import orm

from search.store.studies import Storage, _rdb, study_id

__all__ = ["STALE_REASON", "Heartbeats", "adopt_orphans", "fail_stale"]


def _has_heartbeats(storage: Storage) -> bool:
    rdb = _rdb(storage)
    return rdb is not None and rdb.get_heartbeat_interval() is not None


class Heartbeats:
    """Records a heartbeat for each trial every ``interval`` seconds until the block ends, going on
    through storage errors (a restarting database). ``first_after``: seconds before the first beat
    (a trial run by ``study.optimize`` got one from Optuna the moment it started)."""

    def __init__(self, storage: Storage, trial_ids: list[int], interval: float, first_after: float = 0.0) -> None:
        self.storage, self.trial_ids, self.interval, self.first_after = storage, list(trial_ids), interval, first_after
        self.enabled = _has_heartbeats(storage)  # in-memory storages have none
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeats")

    def add(self, tid: int) -> None:
        """Beat for trial ``tid`` too, from now on (the first beat is recorded at once)."""
        if self.enabled:
            self.storage.record_heartbeat(tid)
        self.trial_ids.append(tid)

    def discard(self, tid: int) -> None:
        """No more beats for trial ``tid`` (told: a population round goes on without it)."""
        if tid in self.trial_ids:
            self.trial_ids.remove(tid)

    def _beat(self) -> None:
        if self._stop.wait(self.first_after):
            return
        while True:
            for tid in list(self.trial_ids):  # a snapshot: add() may append meanwhile
                try:
                    self.storage.record_heartbeat(tid)
                except Exception:  # noqa: BLE001  the database is away: try again next interval
                    self.errors += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Self:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()


def adopt_orphans(storage: Storage, study: optuna.Study) -> list[int]:
    """Give a heartbeat to each RUNNING trial of ``study`` that has none; return their numbers.

    A live worker between ``ask`` and its first heartbeat is harmless to adopt: its own
    heartbeats overwrite this one. A trial already adopted has a heartbeat and is left alone."""
    rdb = _rdb(storage)
    if rdb is None or rdb.get_heartbeat_interval() is None:
        return []
    trial, beat = models.TrialModel, models.TrialHeartbeatModel
    with orm.Session(rdb.engine) as session:
        rows = (
            session.query(trial.trial_id, trial.number)
            .outerjoin(beat, beat.trial_id == trial.trial_id)
            .filter(
                trial.study_id == study_id(rdb, study.study_name),
                trial.state == TrialState.RUNNING,
                beat.trial_heartbeat_id.is_(None),
            )
            .all()
        )
    for tid, _number in rows:
        rdb.record_heartbeat(tid)
    return [number for _tid, number in rows]


def fail_stale(study: optuna.Study, storage: Storage | None = None) -> list[int]:
    """Adopt orphans first when ``storage`` is given (they fail a grace period later), then fail the
    stale trials and queue their retries as Optuna does; return the numbers of the orphans adopted."""
    adopted = adopt_orphans(storage, study) if storage is not None else []
    _fail_stale_trials(study)
    return adopted


STALE_REASON = (
    "stale: its worker stopped sending heartbeats (the process was killed or its node was lost); "
    "Optuna queues a retry (resources.max_retries)"
)


def _fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's ``fail_stale_trials`` (``optuna/storages/_heartbeat.py``, the same one query for the
    stale trials, the same retry callback), with a ``fail_reason`` written on each trial first.

    Optuna fails stale trials without a word, and a finished trial's attributes can no longer be
    set, so the reason goes on while the trial is still RUNNING. Optuna has no public API for the
    stale trials, hence its own ``_get_stale_trial_ids``. A trial that finishes in between keeps
    its real state (its reason is then a stale word on a finished trial: the race Optuna's own
    check has too).
    """
    store = study._storage
    if not isinstance(store, BaseHeartbeat) or not is_heartbeat_enabled(store):
        return
    failed = []
    for tid in store._get_stale_trial_ids(study._study_id):
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another process failed it
            store.set_trial_user_attr(tid, "fail_reason", STALE_REASON)
            if store.set_trial_state_values(tid, state=TrialState.FAIL):
                failed.append(tid)
    callback = store.get_heartbeat_stale_trial_callback()
    if callback is not None:
        for tid in failed:
            callback(study, copy.deepcopy(store.get_trial(tid)))
