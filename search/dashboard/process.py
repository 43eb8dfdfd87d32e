"""The dashboard as a child process beside a launch (``python -m search.launch ... --dashboard``).

:class:`DashboardProcess` starts ``python -m search.dashboard`` (:mod:`search.dashboard`), waits until
it answers and stops it when the launch ends.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from search.dashboard.command import DEFAULT_HOST, DEFAULT_PORT, PARENT_ENV, DashboardError
from search.studyfile import StudySpec

__all__ = ["DashboardProcess"]

_URL_LINE = re.compile(r"^dashboard: (http://\S+)")  # the line search.dashboard.serve prints first


class DashboardProcess:
    """``with DashboardProcess("studies/x.yaml") as url:`` serves the dashboard while the block runs.

    Starts ``python -m search.dashboard`` in a child process, waits (at most
    ``startup_timeout`` seconds) until it answers HTTP, returns the study's URL from
    ``__enter__`` and stops the child on exit. ``study`` is a study file path or a
    :class:`StudySpec` loaded from one (its storage, overrides included, is passed through the
    environment so a password never shows in ``ps``). ``port=0`` picks a free port. A child
    that cannot start raises :class:`DashboardError` with the child's one-line message. The
    child has its own process group, so a Ctrl-C meant for the launcher's graceful stop leaves
    it serving until the block ends; it also stops by itself if its parent dies.
    """

    def __init__(
        self,
        study: str | os.PathLike | StudySpec,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        storage: str | None = None,
        startup_timeout: float = 60.0,
        cwd: str | os.PathLike | None = None,
    ) -> None:
        if isinstance(study, StudySpec):
            if study.source == "<string>":
                raise ValueError("DashboardProcess needs a StudySpec loaded from a file (load_spec)")
            study, storage = study.source, storage or study.study.storage
        self.study_file = str(study)
        self.args = [sys.executable, "-m", "search.dashboard", self.study_file, f"--host={host}", f"--port={port}"]
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            PARENT_ENV: str(os.getpid()),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")])
            ),
        }
        if storage:
            self.env["SPARSESEARCH_STORAGE"] = storage
        self.startup_timeout, self.cwd = startup_timeout, cwd
        self.process, self.url = None, None  # set by start()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._last_error = ""

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        """Start the child and return its URL once it answers."""
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_pump = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_pump.start()
        deadline = time.monotonic() + self.startup_timeout
        try:
            self.url = self._wait_for_url(deadline)
            self._wait_until_answers(deadline)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout`` s); safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _pump_stdout(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        # The child's warnings and errors reach the user's terminal; the last one explains a failure.
        for line in self.process.stderr:
            if line.strip():
                self._last_error = line.strip()
                print(line.rstrip("\n"), file=sys.stderr, flush=True)

    def _failed(self) -> DashboardError:
        self.process.wait(5)
        self._stderr_pump.join(5)  # its last line is the child's error message
        message = self._last_error.removeprefix("error: ").removeprefix(f"{self.study_file}: ")
        return DashboardError(message or f"the dashboard exited with status {self.process.returncode}")

    def _wait_for_url(self, deadline: float) -> str:
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise DashboardError(f"startup: no dashboard URL within {self.startup_timeout:g} s") from None
            if line is None:
                raise self._failed()
            match = _URL_LINE.match(line)
            if match:
                return match.group(1)

    def _wait_until_answers(self, deadline: float) -> None:
        root = self.url.split("/dashboard")[0]
        while True:
            try:
                with urllib.request.urlopen(f"{root}/api/meta", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise self._failed()
            if time.monotonic() > deadline:
                raise DashboardError(f"startup: {root} did not answer within {self.startup_timeout:g} s")
            time.sleep(0.1)
