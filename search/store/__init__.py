"""Optuna's storage and everything that touches it: opening the storage (SQLite, PostgreSQL,
outages), studies and their budget counts, heartbeats and orphans, and a trial's stored record
(user attributes written in one transaction, one reader).

Imports :mod:`search.studyfile`."""

from __future__ import annotations

from search.store.heartbeats import STALE_REASON, Heartbeats, adopt_orphans, fail_stale
from search.store.records import TrialRecord, read_record, write_result, write_run
from search.store.storage import (
    StorageUnavailable,
    artifact_store,
    open_storage,
    public_url,
    sqlite_path,
    storage_outage,
    through_outage,
    wait_out,
)
from search.store.studies import (
    artifact_metas,
    budget_counts,
    create_or_load,
    fail_running,
    get_trial,
    load_named,
    load_or_create,
    open_existing_study,
    requeue_failed,
    requeue_interrupted,
    spec_storage,
    study_id,
    trial_id,
)

__all__ = [
    "STALE_REASON",
    "adopt_orphans",
    "artifact_metas",
    "artifact_store",
    "budget_counts",
    "create_or_load",
    "fail_running",
    "fail_stale",
    "get_trial",
    "Heartbeats",
    "load_named",
    "load_or_create",
    "open_existing_study",
    "open_storage",
    "public_url",
    "read_record",
    "requeue_failed",
    "requeue_interrupted",
    "spec_storage",
    "sqlite_path",
    "storage_outage",
    "StorageUnavailable",
    "study_id",
    "through_outage",
    "trial_id",
    "TrialRecord",
    "wait_out",
    "write_result",
    "write_run",
]
