"""The shared Optuna storage and artifact store, configured for many concurrent workers.

* SQLite (the default): WAL journal so readers (the progress display, the dashboard) never
  block the writers, and a 60 s busy timeout so concurrent workers wait instead of failing.
* PostgreSQL: connection health checks (``pool_pre_ping``) so a restarted server is
  reconnected transparently, a bounded pool, and a connect timeout so an unreachable host
  is an error within seconds, not a hang.

Heartbeats are always on: a trial whose worker died is failed after ``grace`` seconds and
retried (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy
from optuna.artifacts import FileSystemArtifactStore
from sqlalchemy.engine import make_url

__all__ = [
    "open_storage",
    "artifact_store",
    "public_url",
    "StorageUnavailable",
    "storage_outage",
    "wait_out",
    "through_outage",
    "STORAGE_OUTAGE_S",
]

SQLITE_BUSY_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10
_SCHEMA_RACE_ATTEMPTS = 4
OUTAGE_POLL_S = 2.0
STORAGE_OUTAGE_S = 300.0  # a database away for longer than this ends the worker (the launcher reports it)


T = TypeVar("T")


class StorageUnavailable(RuntimeError):
    """The storage URL is well formed but the database cannot be reached or opened."""


def storage_outage(err: BaseException) -> BaseException | None:
    """The database error in ``err``'s chain when it says the database could not be reached, else None.

    The chain matters: when the database drops during ``tell``, Optuna 5's ``_run_trial`` masks
    the storage error with an ``UnboundLocalError`` whose ``__context__`` is the real one.
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(
            err,
            (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, optuna.exceptions.StorageInternalError),
        ):
            return err
        err = err.__cause__ or err.__context__
    return None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def wait_out(err: Exception, since: float, who: str) -> None:
    """Re-raise ``err`` unless it is a storage outage that began less than ``STORAGE_OUTAGE_S`` ago
    (at ``since``); else say so (as ``who``) and wait before the caller retries."""
    cause = storage_outage(err)
    if cause is None or time.monotonic() - since > STORAGE_OUTAGE_S:
        raise err
    print(
        f"{who}: storage unavailable, retrying in {OUTAGE_POLL_S:g} s: {_first_line(cause.__cause__ or cause)}",
        file=sys.stderr,
        flush=True,
    )
    time.sleep(OUTAGE_POLL_S)


def through_outage(fn: Callable[[], T], who: str, stop: Callable[[], bool] = lambda: False) -> T:
    """``fn()``, retried while the database is unreachable (a restart), for up to ``STORAGE_OUTAGE_S``;
    any other error, or any error once ``stop()`` is true, is raised at once."""
    since = time.monotonic()
    while True:
        try:
            return fn()
        except Exception as err:  # noqa: BLE001  re-raised unless it is a storage outage
            if stop():
                raise
            wait_out(err, since, who)


def public_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe to print and to log)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL we cannot parse is shown without its credentials part
        return url.split("@")[-1]


def _engine_kwargs(url: str) -> dict:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    kwargs = {"pool_pre_ping": True, "pool_size": 4, "max_overflow": 8, "pool_recycle": 1800}
    if backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for other backends or in-memory)."""
    u = make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:") else None


def open_storage(
    url: str, *, heartbeat_interval: int = 10, max_retries: int = 2, create_dirs: bool = False
) -> optuna.storages.RDBStorage:
    """Open (creating tables if needed) the RDB storage at ``url`` with heartbeats and retries."""
    path = sqlite_path(url)
    if path is not None:
        if create_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StorageUnavailable(f"no study database at {path}")
    try:
        storage = _rdb_storage(url, heartbeat_interval, max_retries)
    except ImportError as err:  # no driver for this URL's dialect
        raise StorageUnavailable(f"cannot open storage {public_url(url)}: {err}") from None
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as err:
        first = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StorageUnavailable(f"cannot open storage {public_url(url)}: {first}") from None
    if path is not None:
        with storage.engine.connect() as conn:  # WAL is a property of the file: set once, kept
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        # synchronous is per connection. NORMAL under WAL skips the fsync on every commit (a trial
        # makes ~20); a crashed process still loses nothing, only an OS crash or power cut can
        # drop the last commits. Measured in benchmarks/bench_service.py.
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
        sqlalchemy.event.listen(storage.engine, "begin", _sqlite_begin_immediate)
        storage.engine.dispose()
    return storage


def _rdb_storage(url: str, heartbeat_interval: int, max_retries: int) -> optuna.storages.RDBStorage:
    """Optuna's storage; tried again when another process created the tables at the same moment.

    Optuna creates its schema and version row on first use with check-then-insert steps, so of
    several launchers opening a new database at once all but one can hit the unique constraint
    (``alembic_version.version_num``) or find a table it was about to create ("already exists").
    The schema is whole once the first one committed, so a second attempt just opens it."""
    for attempt in range(_SCHEMA_RACE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat_interval,
                grace_period=3 * heartbeat_interval,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retries),
            )
        except sqlalchemy.exc.DBAPIError as err:
            lost_race = isinstance(err, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)) or (
                "already exists" in str(err.orig)
            )  # SQLite: an OperationalError
            if not lost_race or attempt == _SCHEMA_RACE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Python's sqlite3 begins a transaction only at the first write, so Optuna's read-then-write
    # updates (``SELECT ... FOR UPDATE``, which SQLite ignores, then ``UPDATE``) are not atomic:
    # two processes popping the same WAITING trial both saw it WAITING and both ran it (seen with
    # two launchers, tests/search/test_many_launchers.py). SQLAlchemy's recipe for pysqlite: let
    # SQLAlchemy begin every transaction itself, see _sqlite_begin_immediate.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection) -> None:
    """Begin with SQLite's write lock, so a transaction's reads and writes are one atomic step
    across processes (others wait, up to the busy timeout; WAL readers outside it are not blocked)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def artifact_store(directory: str | Path, create: bool = True) -> FileSystemArtifactStore:
    """The directory-backed Optuna artifact store (what optuna-dashboard reads)."""
    directory = Path(directory)
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(directory))
