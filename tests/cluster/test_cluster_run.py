"""The compose cluster without containers: the services' own commands, on this machine.

Every command and environment variable is read from docker/docker-compose.yml (variables from
.env.example plus fresh secrets), mapped onto one host by :class:`Localizer`, and run for real:
the local PostgreSQL, a Ray head, a Ray worker joining it by address (a second raylet: a real
multi-node cluster), the launcher's node and driver attaching by address with the shared Ray
token, a tiny synthetic study against PostgreSQL, then the dashboard serving that study. A wrong
Ray token is refused by the cluster, and a missing one by the published Ray dashboard.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from search.store import read_record
from tests.cluster._compose import COMPOSE_FILE, ENV_EXAMPLE, command_script, load_compose, read_env_file, service_env
from tests.cluster._local import Localizer, Processes
from tests.cluster._postgres import throwaway_database
from tests.helpers import study_doc

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

STUDY, N_TRIALS = "cluster_smoke", 4


def _compose(tag: str) -> dict:
    env = {
        **read_env_file(ENV_EXAMPLE),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "POSTGRES_USER": f"ss_test_{tag}",
        "POSTGRES_DB": f"ss_test_{tag}",
        "STUDY": STUDY,
    }
    return load_compose(COMPOSE_FILE, env)["services"]


def _write_study(app: Path) -> None:
    """studies/$STUDY.yaml in the launcher's working directory; no storage: compose's env gives it."""
    doc = study_doc(
        STUDY,
        study={"n_trials": N_TRIALS, "timeout": "3m"},
        experiment={"kind": "synthetic", "steps": 2, "step_seconds": 0.05},
        resources={"workers": 2, "cpus_per_trial": 1},
    )
    (app / "studies").mkdir()
    (app / "studies" / f"{STUDY}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _healthcheck(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])


def _get(url: str, timeout: float) -> tuple[int, str]:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except OSError as err:
            last = err
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:g} s: {last}")


def _status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _trial_pids_logged_on(node_dirs: list[Path], trials) -> dict[int, bool]:
    """Whether each trial's worker process has its log file (worker-*-PID.out) on the given nodes."""
    pids = {int(read_record(t).worker.rsplit(":", 1)[1]) for t in trials}
    return {pid: any(d.glob(f"session_*/logs/worker-*-{pid}.out") for d in node_dirs) for pid in pids}


def test_compose_services_run_a_study_on_a_real_ray_cluster_and_postgres() -> None:
    services = _compose(secrets.token_hex(4))
    pg_env = service_env(services["postgres"])
    user, db_name, password = pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"], pg_env["POSTGRES_PASSWORD"]
    with throwaway_database(user, db_name, password) as db:
        root = Path(tempfile.mkdtemp(prefix="ssc-", dir="/tmp"))  # short: Ray's socket paths are limited
        app = root / "app"  # the containers' /app: studies/ and runs/ (the artifact volume) live here
        app.mkdir()
        _write_study(app)
        local = Localizer(root, db.port, extra_ray_args={"ray-worker": "--num-cpus=2"})
        procs = Processes(root, app)

        def env_of(name: str) -> dict[str, str]:
            return {k: local(name, v) for k, v in service_env(services[name]).items()}

        def command_of(name: str) -> str:
            return local(name, command_script(services[name]))

        def health_of(name: str) -> str:
            return local(name, _healthcheck(services[name]))

        pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        try:
            procs.wait_until(
                "postgres-health",
                _healthcheck(services["postgres"]),
                {
                    **pg_env,
                    "PGHOST": "127.0.0.1",
                    "PGPORT": str(db.port),
                    "PATH": f"{pg_bin[-1] if pg_bin else ''}:{procs.base_env['PATH']}",
                },
                timeout=30,
            )

            assert "--num-cpus=0" in command_of("ray-head"), "trials must not run on the head (see below)"
            procs.start("ray-head", command_of("ray-head"), env_of("ray-head"))
            procs.wait_until("ray-head-health", health_of("ray-head"), env_of("ray-head"), timeout=90)
            procs.start("ray-worker", command_of("ray-worker"), env_of("ray-worker"))
            # Meanwhile, someone without the cluster's token is turned away (checked after the launch).
            intruder = procs.start(
                "intruder", health_of("ray-head"), {**env_of("ray-head"), "RAY_AUTH_TOKEN": secrets.token_hex(32)}
            )

            launch_env = env_of("launch")
            assert launch_env["SPARSESEARCH_STORAGE"] == db.url(), "compose's storage URL reaches PostgreSQL"
            rc = procs.run("launch", command_of("launch"), launch_env, timeout=180)
            assert rc == 0, procs.log("launch")[-4000:] + procs.log("ray-worker")[-2000:]
            assert local.unused() == {"dashboard host", "dashboard port"}, "every Ray/PostgreSQL rule applied"
            assert intruder.wait(60) != 0 and "InvalidAuthToken" in procs.log("intruder"), (
                "a wrong Ray token must be refused: " + procs.log("intruder")[-2000:]
            )

            study = optuna.load_study(study_name=STUDY, storage=db.url())
            states = Counter(t.state for t in study.get_trials())
            assert states[optuna.trial.TrialState.COMPLETE] >= N_TRIALS, states
            assert optuna.trial.TrialState.RUNNING not in states, states
            # The head offers no CPUs (RAY_HEAD_CPUS=0) and the launcher's node none either, so every
            # trial must have run in a process of the worker node that joined by address.
            done = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
            worker_nodes = sorted(root.glob("ray-worker-*"))
            logged = _trial_pids_logged_on(worker_nodes, done)
            assert worker_nodes and all(logged.values()), logged

            # The published Ray dashboard's job API (it runs code) needs the token as well.
            jobs = f"http://127.0.0.1:{local.ray_dashboard}/api/jobs/"
            token = env_of("ray-head")["RAY_AUTH_TOKEN"]
            assert (_status(jobs), _status(jobs, token)) == (401, 200)

            procs.start("dashboard", command_of("dashboard"), env_of("dashboard"))
            status, body = _get(f"http://127.0.0.1:{local.dashboard}/api/studies", timeout=60)
            names = [s["study_name"] for s in json.loads(body)["study_summaries"]]
            assert status == 200 and names == [STUDY], (names, procs.log("dashboard")[-2000:])
            status, page = _get(f"http://127.0.0.1:{local.dashboard}/dashboard", timeout=10)
            assert status == 200 and "<html" in page.lower()
            assert not local.unused()
        finally:
            procs.stop_all()
            leftovers = procs.leftovers()
            shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"processes left running: {leftovers}"
