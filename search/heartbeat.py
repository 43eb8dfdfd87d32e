"""Heartbeats that outlive a database blip, and no RUNNING trial left without one.

Optuna fails a RUNNING trial as stale only when it *has* a heartbeat that stopped: a trial
whose worker died (or lost the database) after ``study.ask()`` created it but before its first
heartbeat was written has none, and would stay RUNNING for ever, holding a slot of the
budget. :func:`fail_stale` closes that gap: it gives every such orphan one heartbeat, so
that a grace period later, unless a live worker keeps beating for it, Optuna's own
:func:`optuna.storages.fail_stale_trials` fails it and the study's
``RetryHeartbeatStaleTrialCallback`` queues its retry. Giving a heartbeat uses the
database's clock, so workers on machines whose clocks disagree cannot misjudge an orphan.

Optuna's heartbeat thread ends at the first error it meets, so a database restart leaves a
long trial without heartbeats: it would be failed as stale while still training, and its
result thrown away. :class:`Heartbeats` keeps beating through errors instead.
"""

from __future__ import annotations

import threading
import warnings

import optuna
from optuna.storages._rdb import models  # the schema's heartbeat table; no public query exists
from optuna.trial import TrialState
from sqlalchemy import orm

__all__ = ["Heartbeats", "adopt_orphans", "fail_stale"]


def _rdb(storage: optuna.storages.BaseStorage) -> optuna.storages.RDBStorage | None:
    """The RDB storage under ``storage`` (a study wraps it in Optuna's private ``_CachedStorage``)."""
    storage = getattr(storage, "_backend", storage)
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


def _has_heartbeats(storage: optuna.storages.BaseStorage) -> bool:
    rdb = _rdb(storage)
    return rdb is not None and rdb.get_heartbeat_interval() is not None


class Heartbeats:
    """Records a heartbeat for each trial every ``interval`` seconds until the block ends,
    going on through storage errors (a restarting database)."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_ids: list[int], interval: float) -> None:
        self.storage, self.trial_ids, self.interval = storage, list(trial_ids), interval
        self.enabled = _has_heartbeats(storage)  # in-memory storages have none
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeats")

    def add(self, trial_id: int) -> None:
        """Beat for ``trial_id`` too, from now on (the first beat is recorded at once)."""
        if self.enabled:
            self.storage.record_heartbeat(trial_id)
        self.trial_ids.append(trial_id)

    def _beat(self) -> None:
        while True:
            for trial_id in list(self.trial_ids):  # a snapshot: add() may append meanwhile
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # noqa: BLE001  the database is away: try again next interval
                    self.errors += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "Heartbeats":
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()


def adopt_orphans(study: optuna.Study) -> list[int]:
    """Give a heartbeat to each RUNNING trial of ``study`` that has none; return their numbers.

    A live worker between ``ask`` and its first heartbeat is harmless to adopt: its own
    heartbeats overwrite this one. A trial already adopted has a heartbeat and is left alone."""
    storage = _rdb(study._storage)
    if storage is None or storage.get_heartbeat_interval() is None:
        return []
    trial, beat = models.TrialModel, models.TrialHeartbeatModel
    with orm.Session(storage.engine) as session:
        rows = (session.query(trial.trial_id, trial.number)
                .outerjoin(beat, beat.trial_id == trial.trial_id)
                .filter(trial.study_id == study._study_id, trial.state == TrialState.RUNNING,
                        beat.trial_heartbeat_id.is_(None))
                .all())
    for trial_id, _number in rows:
        storage.record_heartbeat(trial_id)
    return [number for _trial_id, number in rows]


def fail_stale(study: optuna.Study, *, adopt: bool = True) -> list[int]:
    """Adopt orphans (they fail a grace period later) unless ``adopt`` is off, then fail the stale
    trials and queue their retries as Optuna does; return the numbers of the orphans adopted."""
    adopted = adopt_orphans(study) if adopt else []
    with warnings.catch_warnings():  # fail_stale_trials is "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return adopted
