"""Helpers for fault tests: run the launcher as a separate process group and watch its study,
kill what it leaves behind, and make the error a restarting database raises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from search.store import read_record


def outage_error(statement: str = "SELECT 1", message: str = "the database system is shutting down") -> Exception:
    """The ``OperationalError`` SQLAlchemy raises while PostgreSQL restarts."""
    import sqlalchemy

    return sqlalchemy.exc.OperationalError(statement, {}, Exception(message))


class Launch:
    """``python -m search.launch FILE`` in its own session (like a terminal job), run in ``cwd``
    (where the launch writes its report, ``runs/<study>/report``; default: the study file's
    directory, so that nothing is written into the checkout)."""

    def __init__(self, study_file: Path, *args: str, cwd: Path | None = None) -> None:
        doc = yaml.safe_load(study_file.read_text())
        self.name, self.url = doc["study"]["name"], doc["study"]["storage"]
        self.log = study_file.with_suffix(f".{time.monotonic_ns()}.log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "search.launch", str(study_file), *args],
            cwd=cwd or study_file.parent,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

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
            raise AssertionError(f"launcher did not finish in {timeout} s:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def launch_id(self) -> str | None:
        """The id the launcher printed on its first line (``..., launch <id>``), once it has."""
        for line in self.log.read_text(errors="replace").splitlines():
            if ", launch " in line:
                return line.rsplit(" ", 1)[-1]
        return None


def running_with_worker(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.RUNNING and read_record(t).worker is not None]


def by_state(trials: list[FrozenTrial], *states: TrialState) -> list[FrozenTrial]:
    return [t for t in trials if t.state in states]


def leftovers(launch: Launch, wait: float = 0.0) -> list[int]:
    """The processes of the launch's session still alive (its Ray daemons, workers), after waiting up
    to ``wait`` seconds for them to go."""
    end = time.monotonic() + wait
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.getsid(int(entry.name)) == launch.proc.pid:
                    pids.append(int(entry.name))
            except OSError:
                pass
        if not pids or time.monotonic() >= end:
            return pids
        time.sleep(0.5)


def reap(launch: Launch) -> None:
    """Kill what the launch's session left behind (only its own processes; also used by
    benchmarks/reliability.py)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getsid(int(entry.name)) == launch.proc.pid:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


def launch_together(
    study_file: Path, n: int, kill_one: bool = False, timeout: float = 240
) -> tuple[list[int], list[Launch], list[FrozenTrial]]:
    """Start ``n`` launchers of one study file at once (as on n machines); with ``kill_one``, kill -9
    the last one's process group (launcher and its Ray, as if its machine died) while one of its
    trials runs. Return the exit statuses, the launches and the trials killed mid-run."""
    runs = [Launch(study_file) for _ in range(n)]
    killed: list[FrozenTrial] = []
    try:
        if kill_one:
            victim = runs[-1]
            killed = victim.wait_for(
                "a trial of the victim running",
                lambda ts: [t for t in running_with_worker(ts) if read_record(t).launch_id == victim.launch_id()],
                timeout=180,
            )
            victim.signal(signal.SIGKILL, group=True)
            reap(victim)
        return [launch.finish(timeout=timeout) for launch in runs], runs, killed
    finally:
        for launch in runs:
            reap(launch)


def one_study_problems(trials: list[FrozenTrial], budget: int, workers: int, baseline: dict) -> list[str]:
    """What several launchers of one study must never do, as readable lines (none: all is well):
    trials left RUNNING or FAIL (killed ones are the caller's to allow), the budget missed or
    overshot by more than ``workers - 1``, a configuration trained twice, the enqueued baseline not
    trained exactly once, a repeat whose values are not its original's, two workers on one seed."""
    problems = []
    if running := by_state(trials, TrialState.RUNNING):
        problems.append(f"{len(running)} left RUNNING")
    done = by_state(trials, TrialState.COMPLETE, TrialState.PRUNED)
    if not budget <= len(done) <= budget + workers - 1:
        problems.append(f"{len(done)} finished for a budget of {budget} with {workers} workers")
    trained = [t for t in by_state(trials, TrialState.COMPLETE) if read_record(t).repeat_of is None]
    twice = [h for h, n in Counter(read_record(t).config_hash for t in trained).items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} configurations trained twice")
    if (n := sum(t.params == baseline for t in trained)) != 1:
        problems.append(f"the enqueued baseline trained {n} times")
    for t in done:
        record = read_record(t)
        original = trials[record.repeat_of] if record.repeat_of is not None else t
        if read_record(original).config_hash != record.config_hash or original.values != t.values:
            problems.append(f"trial {t.number} is not an exact repeat of trial {original.number}")
    seeds = {r.worker: r.sampler_seed for r in map(read_record, done)}
    if len(set(seeds.values())) != len(seeds):
        problems.append(f"workers shared a sampler seed: {sorted(seeds.values())}")
    return problems
