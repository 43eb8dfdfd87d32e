"""``python -m search.dashboard``: serves the study's API on 127.0.0.1, follows a running study,
handles multi-objective studies, and refuses bad input with one line, exit 2, creating nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import upload_artifact

from search.dashboard import DashboardError, DashboardProcess, is_loopback, main, study_url
from search.launch import prepare_study
from search.store import artifact_store
from search.studyfile import StudySpec, load_spec
from search.trial import Objective
from search.trial import run_trials as engine
from tests.helpers import study_doc

pytestmark = pytest.mark.slow

TWO_OBJECTIVES = {"directions": ["minimize", "maximize"], "metrics": ["loss", "n_params"]}


def run_trials(spec: StudySpec, n_trials: int, png: Path | None = None) -> optuna.Study:
    """Run ``n_trials`` synthetic trials in this process through the worker's engine; upload ``png``
    to trial 1 while it runs (a finished trial cannot take artifacts any more)."""
    study = prepare_study(spec)
    store = artifact_store(spec.study.artifacts)

    class WithPicture(Objective):
        def succeed(self, run, result):  # the trial is still RUNNING here: told after this returns
            if png is not None and run.trial.number == 1:
                upload_artifact(artifact_store=store, file_path=str(png), study_or_trial=run.trial)
            return super().succeed(run, result)

    objective = WithPicture(spec, device="cpu", threads=1, launch_id="test", artifacts=store, stop=threading.Event())
    engine(study, objective, n_trials, heartbeat_s=1.0, batched=False)
    return study


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the IPv4 sockets listening on ``port`` (Linux /proc)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_serves_a_running_multi_objective_study_on_loopback(
    write_study, tmp_path: Path, storage_url: str, study_name: str
) -> None:
    doc = study_doc(study_name, study={"storage": f"sqlite:///{tmp_path}/not-this.db", **TWO_OBJECTIVES})
    del doc["study"]["direction"], doc["study"]["metric"]
    spec = load_spec(write_study(doc), storage=storage_url)  # as the launcher hands it over: overridden
    run_trials(spec, 2)
    with DashboardProcess(spec, port=0) as url:
        assert url.startswith("http://127.0.0.1:") and "/dashboard/studies/" in url
        root, study_id = url.split("/dashboard")[0], int(url.rsplit("/", 1)[1])
        port = int(root.rsplit(":", 1)[1])
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(port) == {"127.0.0.1"}, "binds to loopback only by default"
        names = [s["study_name"] for s in get_json(f"{root}/api/studies")["study_summaries"]]
        assert study_name in names
        detail = get_json(f"{root}/api/studies/{study_id}")
        assert detail["name"] == study_name and detail["directions"] == ["minimize", "maximize"]
        assert len(detail["trials"]) == 2 and detail["objective_names"] == ["loss", "n_params"]

        run_trials(spec, 1)  # the study is written to while the dashboard serves it
        deadline = time.monotonic() + 20  # the dashboard caches a small study's trials for 2 s
        while len(get_json(f"{root}/api/studies/{study_id}")["trials"]) < 3:
            assert time.monotonic() < deadline, "the new trial never showed up"
            time.sleep(0.5)
    assert not (tmp_path / "not-this.db").exists(), "the child used the spec's storage, not the file's"


@pytest.mark.parametrize("case", ["unknown key", "no database", "no study", "port in use", "bad port"])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(case: str, write_study, tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    if case == "unknown key":
        path = write_study(study_doc("x", study={"colour": "red"}))
        expected = "study.colour: unknown key"
    elif case == "no database":
        path = write_study(study_doc("x", study={"storage": f"sqlite:///{tmp_path}/nowhere/study.db"}))
        expected = f"study.storage: no study database at {tmp_path}/nowhere/study.db"
    else:
        run_trials(load_spec(write_study(study_doc("other", study={"n_trials": 1}))), 1)
        name = "x" if case == "no study" else "other"
        path = write_study(study_doc(name, study={"storage": storage}), "x.yaml")
        expected = {
            "no study": "study.name: no study 'x' in sqlite:///",
            "port in use": "--port: port ",
            "bad port": "--port: expected 0..65535, got 70000",
        }[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = 70000 if case == "bad port" else busy.getsockname()[1]
        assert main([str(path), "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {path}: {expected}"), err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing was created"


def test_cli_exits_2_with_one_line_and_the_process_reports_it(write_study, tmp_path: Path, capfd) -> None:
    path = write_study(study_doc("x", study={"storage": f"sqlite:///{tmp_path}/none.db"}))
    dashboard = DashboardProcess(path, port=0)
    with pytest.raises(DashboardError, match=r"^study.storage: no study database at .*none.db$"):
        dashboard.start()
    assert dashboard.process.returncode == 2
    expected = f"error: {path}: study.storage: no study database at {tmp_path}/none.db\n"
    assert capfd.readouterr().err == expected
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "artifacts").exists()


def test_urls_and_loopback() -> None:
    assert study_url("127.0.0.1", 8080, 3) == "http://127.0.0.1:8080/dashboard/studies/3"
    assert study_url("0.0.0.0", 80, None) == "http://127.0.0.1:80/dashboard"
    assert study_url("::", 8080, 1) == "http://[::1]:8080/dashboard/studies/1"
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "dashboard.example.org"))
