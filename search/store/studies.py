"""The one module that opens studies and touches Optuna's storage (``search.store.storage`` opens the
storage itself): create or load a study, budget counts, trial ids, a trial's user attributes
written in one transaction, failing and requeueing a launch's leftovers, the study's artifact
metadata (heartbeats, orphans and stale trials: :mod:`search.store.heartbeats`). Importing it quiets
Optuna (every command does; ``import search`` alone does not load Optuna).

Callers get the storage from :func:`search.store.storage.open_storage` and pass it around; nothing
else reads ``study._storage``, ``study._study_id`` or ``trial._trial_id``.

"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

# Private, on purpose: Optuna's RDB models, for set_user_attrs (and search.store.heartbeats).
# tests/search/test_heartbeat.py::test_optunas_heartbeat_schema_is_as_expected fails loudly when an
# Optuna upgrade moves or renames them.
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from search.store.storage import open_storage, public_url
from search.studyfile import SpecError, StudySpec
from search.studyfile.space import to_optuna

try:  # Private too, for set_user_attrs: Optuna 5 has no public "several user attributes at once".
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # moved by an Optuna upgrade: one write per attribute (tests/search/test_writes.py fails)
    _create_scoped_session = None

__all__ = [
    "artifact_metas",
    "budget_counts",
    "create_or_load",
    "fail_running",
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


def _check_space(study: optuna.Study, spec: StudySpec) -> None:
    """Every search-space entry can still be sampled in this study. Optuna keeps one value space
    per parameter name in a study (a categorical's choices, a number's log/step): a file whose
    space changed incompatibly would fail every new trial; refuse it before any starts."""
    seen: dict[str, optuna.distributions.BaseDistribution] = {}
    for t in study.get_trials(deepcopy=False):
        for name, dist in t.distributions.items():
            seen.setdefault(name, dist)
    for p in spec.search_space:
        if p.name not in seen:
            continue
        try:
            optuna.distributions.check_distribution_compatibility(seen[p.name], to_optuna(p))
        except ValueError as err:
            old = seen[p.name]
            was = f"choices {list(old.choices)}" if hasattr(old, "choices") else repr(old)
            raise SpecError(
                f"search_space.{p.name}",
                f"differs from the space study {spec.study.name!r} sampled ({was}): {err}; "
                "keep it or use another study.name",
            ) from None


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
    if not created:
        _check_space(study, spec)
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
