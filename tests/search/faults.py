"""Helpers for fault tests: run the launcher as a separate process group and watch its study,
kill what it leaves behind, and make the error a restarting database raises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from tests.helpers import ROOT


def outage_error(statement: str = "SELECT 1", message: str = "the database system is shutting down") -> Exception:
    """The ``OperationalError`` SQLAlchemy raises while PostgreSQL restarts."""
    import sqlalchemy

    return sqlalchemy.exc.OperationalError(statement, {}, Exception(message))


class Launch:
    """``python -m search.launch FILE`` in its own session (like a terminal job), run in ``cwd``
    (where the launch writes its report, ``runs/<study>/report``)."""

    def __init__(self, study_file: Path, *args: str, cwd: Path = ROOT) -> None:
        doc = yaml.safe_load(study_file.read_text())
        self.name, self.url = doc["study"]["name"], doc["study"]["storage"]
        self.log = study_file.with_suffix(f".{time.monotonic_ns()}.log")
        self.proc = subprocess.Popen([sys.executable, "-m", "search.launch", str(study_file), *args], cwd=cwd,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def trials(self) -> list[FrozenTrial]:
        try:
            return optuna.load_study(study_name=self.name, storage=self.url).get_trials()
        except KeyError:  # the launcher has not created the study yet
            return []

    def wait_for(self, what: str, predicate: Callable[[list[FrozenTrial]], object], timeout: float = 120) -> object:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = predicate(self.trials())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited ({self.proc.returncode}) before {what}:\n{self.output()}")
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output()}")

    def signal(self, signum: int, group: bool = False) -> None:
        os.killpg(self.proc.pid, signum) if group else self.proc.send_signal(signum)

    def finish(self, timeout: float = 180) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"launcher did not finish in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def running_with_worker(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.RUNNING and "worker" in t.user_attrs]


def by_state(trials: list[FrozenTrial], *states: TrialState) -> list[FrozenTrial]:
    return [t for t in trials if t.state in states]


def reap(launch: Launch) -> None:
    """Kill what the launch's session left behind (only its own processes; also used by
    benchmarks/reliability.py)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == launch.proc.pid:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass
