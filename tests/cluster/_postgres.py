"""The local PostgreSQL server for tests: found, started if it is not running, a throwaway role.

PostgreSQL is a machine-wide service (.ci/run starts it), so a server this module starts is
left running for the other tests; only the role and database it creates are removed.
Missing PostgreSQL skips the test, unless ``SPARSESEARCH_REQUIRE_POSTGRES=1`` (CI), which fails it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

__all__ = ["Database", "throwaway_database"]


@dataclass(frozen=True)
class Database:
    user: str
    password: str
    name: str
    port: int

    def url(self, host: str = "127.0.0.1") -> str:
        return f"postgresql://{self.user}:{self.password}@{host}:{self.port}/{self.name}"


def _unavailable(reason: str) -> None:
    if os.environ.get("SPARSESEARCH_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (SPARSESEARCH_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL: {reason} (set SPARSESEARCH_REQUIRE_POSTGRES=1 to make this a failure)")


def _as_postgres(*argv: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["sudo", "-n", "-u", "postgres", *argv]


def _psql(sql: str) -> str:
    run = subprocess.run(
        _as_postgres("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql),
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    if run.returncode != 0:
        raise RuntimeError(f"psql failed: {run.stderr.strip()}")
    return run.stdout.strip()


def _cluster() -> tuple[str, str, int, bool]:
    """(version, name, port, online) of the first local cluster, from ``pg_lsclusters``."""
    if not shutil.which("pg_lsclusters"):
        _unavailable("it is not installed (no pg_lsclusters; apt-get install postgresql-15)")
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30).stdout
    rows = [line.split() for line in listing.splitlines() if line.strip()]
    if not rows:
        _unavailable("no cluster exists (pg_createcluster 15 main)")
    version, name, port, status = rows[0][:4]
    return version, name, int(port), status == "online"


def _ensure_running() -> int:
    version, name, port, online = _cluster()
    if not online:
        start = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if start.returncode != 0 and not _cluster()[3]:
            _unavailable(f"cluster {version}/{name} is down and could not be started: {start.stderr.strip()}")
    return port


@contextlib.contextmanager
def throwaway_database(
    user: str | None = None, name: str | None = None, password: str | None = None
) -> Iterator[Database]:
    """A new login role owning a new database (random names and password unless given); dropped after."""
    port = _ensure_running()
    tag = secrets.token_hex(4)
    db = Database(
        user=user or f"ss_test_{tag}",
        password=password or secrets.token_hex(16),
        name=name or f"ss_test_{tag}",
        port=port,
    )
    try:
        try:
            _psql(f"CREATE ROLE \"{db.user}\" LOGIN PASSWORD '{db.password}'")
            _psql(f'CREATE DATABASE "{db.name}" OWNER "{db.user}"')
        except (RuntimeError, OSError) as err:
            _unavailable(f"cannot create a test role and database: {err}")
        yield db
    finally:
        drops = (f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{db.user}"')
        for sql in drops:
            with contextlib.suppress(RuntimeError, OSError):
                _psql(sql)
