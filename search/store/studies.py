"""The one module that opens studies and touches Optuna's storage (``search.store.storage`` opens the
storage itself): create or load a study, budget counts, trial ids, a trial's user attributes
written in one transaction, failing and requeueing a launch's leftovers, orphan adoption and
heartbeats, the study's artifact metadata. Importing it quiets Optuna (every command does; ``import
search`` alone does not load Optuna).

Callers get the storage from :func:`search.store.storage.open_storage` and pass it around; nothing
else reads ``study._storage``, ``study._study_id`` or ``trial._trial_id``.

Heartbeats that outlive a database blip, and no RUNNING trial left without one. Optuna fails a
RUNNING trial as stale only when it *has* a heartbeat that stopped: a trial whose worker died (or
lost the database) after ``study.ask()`` created it but before its first heartbeat was written has
none, and would stay RUNNING for ever, holding a slot of the budget. :func:`fail_stale` closes
that gap: it gives every such orphan one heartbeat (the database's clock), so that a grace period
later, unless a live worker keeps beating for it, Optuna's own ``fail_stale_trials`` fails it and
the study's ``RetryHeartbeatStaleTrialCallback`` queues its retry. Optuna's heartbeat thread ends
at the first error it meets; :class:`Heartbeats` keeps beating through errors instead.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Self

import optuna

# Private, on purpose and only here: Optuna 5 has no public query for "RUNNING trials without a
# heartbeat" (adopt_orphans) nor for the stale trials it is about to fail (_fail_stale_trials). tests/search/test_heartbeat.py::test_optunas_heartbeat_schema_is_as_expected
# fails loudly when an Optuna upgrade moves or renames these models.
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import orm

from search.store.storage import open_storage, public_url
from search.studyfile import SpecError, StudySpec

try:  # Private too, for set_user_attrs: Optuna 5 has no public "several user attributes at once".
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # moved by an Optuna upgrade: one write per attribute (tests/search/test_writes.py fails)
    _create_scoped_session = None

__all__ = [
    "Heartbeats",
    "adopt_orphans",
    "artifact_metas",
    "budget_counts",
    "create_or_load",
    "fail_running",
    "fail_stale",
    "get_trial",
    "load_named",
    "load_or_create",
    "open_existing_study",
    "requeue_failed",
    "requeue_interrupted",
    "set_user_attrs",
    "spec_storage",
    "study_id",
    "trial_id",
]

Storage = optuna.storages.BaseStorage

# Heartbeats, retries and metric names are marked experimental in Optuna but are exactly what
# this service is built on; the warning would repeat in every worker for every trial.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _check_directions(study: optuna.Study, spec: StudySpec, hint: str = "") -> None:
    stored = [d.name.lower() for d in study.directions]
    if stored != list(spec.study.directions):
        raise SpecError(
            "study.direction",
            f"the stored study {spec.study.name!r} has directions {stored}, "
            f"the file says {list(spec.study.directions)}{hint}",
        )


def create_or_load(storage: Storage, spec: StudySpec) -> tuple[optuna.Study, bool]:
    """The spec's study, created when it does not exist; and whether this call created it (of several
    launchers starting at once exactly one does: the database's unique study name decides)."""
    try:
        study = optuna.create_study(storage=storage, study_name=spec.study.name, directions=list(spec.study.directions))
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study, created = optuna.load_study(study_name=spec.study.name, storage=storage), False
    _check_directions(study, spec, "; use another study.name")
    if study.metric_names is None:
        study.set_metric_names(list(spec.study.metrics))
    return study, created


def open_existing_study(spec: StudySpec, storage: Storage | None = None, *, sampler=None, pruner=None) -> optuna.Study:
    """Load the spec's study (from ``storage`` when given); never create it (:class:`StorageUnavailable`
    or :class:`SpecError`)."""
    storage = storage if storage is not None else spec_storage(spec)
    try:
        study = optuna.load_study(study_name=spec.study.name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise SpecError(
            "study.name",
            f"no study {spec.study.name!r} in {public_url(spec.study.storage)}; "
            f"expected one made by python -m search.launch {spec.source}",
        ) from None
    _check_directions(study, spec)
    return study


def spec_storage(spec: StudySpec) -> Storage:
    """The storage of the spec's study (``study.storage``), opened with its heartbeat settings."""
    res = spec.resources
    return open_storage(spec.study.storage, heartbeat_interval=res.heartbeat_interval, max_retries=res.max_retries)


def load_named(storage: Storage, name: str) -> optuna.Study | None:
    """The study ``name`` in ``storage`` (a confirmation study), or None when there is none."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def load_or_create(storage: Storage, name: str, direction: str, metric: str) -> optuna.Study:
    """A single-objective study named ``name`` (a confirmation study), created when missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
        study.set_metric_names([metric])
    return study


def study_id(storage: Storage, name: str) -> int:
    """The storage's id of the study ``name`` (KeyError when there is none)."""
    return storage.get_study_id_from_name(name)


def trial_id(storage: Storage, study: optuna.Study, number: int, sid: int | None = None) -> int:
    """The storage's id of trial ``number`` of ``study`` (pass ``sid``, its study id, to skip a query)."""
    return storage.get_trial_id_from_study_id_trial_number(
        sid if sid is not None else study_id(storage, study.study_name), number
    )


def get_trial(storage: Storage, tid: int) -> FrozenTrial:
    """The trial as the database has it now (not a process's cached copy)."""
    return storage.get_trial(tid)


def set_user_attrs(storage: Storage, tid: int, attrs: Mapping[str, Any]) -> None:
    """Set trial ``tid``'s user attributes ``attrs`` (JSON-serialisable values).

    On an RDB storage in one transaction: one commit, one upsert per attribute, through Optuna's
    own per-attribute code (its checks and errors: a finished trial raises
    ``UpdateFinishedTrialError`` and nothing is written). Optuna's public ``set_trial_user_attr``
    commits each attribute on its own, which is what other storages get. The live
    ``optuna.Trial``'s cached copy (``trial.user_attrs``) is not updated: readers read the trial
    from the storage (``search.store.records.read_record`` of a FrozenTrial)."""
    rdb = _rdb(storage)
    write = getattr(rdb, "_set_trial_attr_without_commit", None)
    if rdb is None or write is None or _create_scoped_session is None:
        for key, value in attrs.items():
            storage.set_trial_user_attr(tid, key, value)
        return
    with _create_scoped_session(rdb.scoped_session) as session:
        for key, value in attrs.items():
            write(session, models.TrialUserAttributeModel, tid, key, value)


def budget_counts(storage: Storage, sid: int) -> tuple[int, int]:
    """(finished, running) trial counts of study ``sid``, straight from the database."""
    finished = storage.get_n_trials(sid, (TrialState.COMPLETE, TrialState.PRUNED))
    return finished, storage.get_n_trials(sid, TrialState.RUNNING)


def fail_running(storage: Storage, study: optuna.Study, reason: str, keep=lambda trial: True) -> int:
    """FAIL, with ``reason`` (a ``fail_reason`` attribute), the RUNNING trials of ``study`` that
    ``keep(trial)`` selects (their processes are gone); return how many this call failed."""
    sid, n = study_id(storage, study.study_name), 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if keep(t):
            tid = trial_id(storage, study, t.number, sid)
            storage.set_trial_user_attr(tid, "fail_reason", reason)
            n += bool(storage.set_trial_state_values(tid, TrialState.FAIL))
    return n


def requeue_interrupted(study: optuna.Study, trials: Sequence[FrozenTrial]) -> int:
    """Queue ``trials``' parameters again (each as a new WAITING trial naming ``requeued_from``)."""
    for t in trials:
        # Not skip_if_exists: the FAIL trial itself has these params. A FAIL is never requeued
        # twice because the requeued copy is a new trial.
        study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
    return len(trials)


def requeue_failed(study: optuna.Study, numbers: Sequence[int], max_retries: int) -> int:
    """Queue the FAIL trials ``numbers`` again (see :func:`requeue_interrupted`), each only while its
    chain of ``requeued_from`` copies is shorter than ``max_retries``; return how many were queued."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    again = []
    for n in numbers:
        depth, t = 0, trials.get(n)
        while t is not None and (back := t.user_attrs.get("requeued_from")) is not None:
            depth, t = depth + 1, trials.get(back)
        if depth < max_retries and trials.get(n) is not None:
            again.append(trials[n])
    return requeue_interrupted(study, again)


def artifact_metas(storage: Storage, study: optuna.Study) -> list[dict]:
    """The study's artifact metadata (optuna-dashboard marks a deleted artifact with a JSON null,
    which ``optuna.artifacts.get_all_artifact_meta`` cannot parse: those are left out)."""
    import json

    attrs = storage.get_study_system_attrs(study_id(storage, study.study_name))
    return [m for k, v in attrs.items() if k.startswith("artifacts:") and (m := json.loads(v))]


def _rdb(storage: Storage) -> optuna.storages.RDBStorage | None:
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


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
