"""Run compose services' commands as local processes: the compose network mapped onto one host.

:class:`Localizer` rewrites a service's command and environment: container host names become
127.0.0.1, fixed container ports become free ones, and every ``ray start`` gets its own temp
dir and agent port (containers have their own; raylets sharing one host must not collide).
Each rule must match somewhere, so a compose file whose wiring changed fails loudly here.

:class:`Processes` starts each command in its own process group under a private directory
and stops exactly those processes (never ``ray stop``: it kills every Ray on the machine).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT

__all__ = ["free_port", "Localizer", "Processes"]

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Localizer:
    def __init__(self, root: Path, pg_port: int, extra_ray_args: dict[str, str]) -> None:
        self.root, self.gcs, self.dashboard, self.ray_dashboard = root, free_port(), free_port(), free_port()
        self.extra_ray_args, self._nodes = extra_ray_args, 0
        self.rules: dict[str, tuple[re.Pattern, object]] = {
            "ray address": (re.compile(r"\b(?:ray-head|localhost):6379\b"), f"127.0.0.1:{self.gcs}"),
            "ray head port": (re.compile(r"--port=6379\b"), f"--port={self.gcs}"),
            "ray client port": (
                re.compile(r"--ray-client-server-port=\d+"),
                lambda m: f"--ray-client-server-port={free_port()}",
            ),
            "ray dashboard port": (re.compile(r"--dashboard-port=\d+"), f"--dashboard-port={self.ray_dashboard}"),
            "ray dashboard host": (re.compile(r"--dashboard-host=0\.0\.0\.0"), "--dashboard-host=127.0.0.1"),
            "postgres host": (re.compile(r"@postgres:5432/"), f"@127.0.0.1:{pg_port}/"),
            "dashboard host": (re.compile(r"--host 0\.0\.0\.0\b"), "--host 127.0.0.1"),
            "dashboard port": (re.compile(r"--port 8080\b"), f"--port {self.dashboard}"),
        }
        self.used: set[str] = set()

    def _ray_start(self, service: str):
        def sub(m: re.Match) -> str:
            self._nodes += 1
            return (
                f"ray start --temp-dir={self.root}/{service}-{self._nodes} "
                f"--dashboard-agent-listen-port={free_port()} --min-worker-port=0 --max-worker-port=0 "
                f"--object-store-memory=100000000 {self.extra_ray_args.get(service, '')}"
            ).rstrip()

        return sub

    def __call__(self, service: str, text: str) -> str:
        for name, (pattern, replacement) in self.rules.items():
            text, n = pattern.subn(replacement, text)
            if n:
                self.used.add(name)
        return re.sub(r"\bray start\b", self._ray_start(service), text)

    def unused(self) -> set[str]:
        return set(self.rules) - self.used


class Processes:
    def __init__(self, root: Path, cwd: Path) -> None:
        self.root, self.cwd = root, cwd
        self.procs: dict[str, subprocess.Popen] = {}
        home = root / "home"  # no ~/.ray/auth_token of this machine's user: the token must come from compose
        home.mkdir(exist_ok=True)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SPARSESEARCH_"))}
        self.base_env = {
            **clean,
            "HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, name: str, script: str, env: dict[str, str]) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "w") as out:
            proc = subprocess.Popen(
                ["sh", "-c", script],
                cwd=self.cwd,
                env={**self.base_env, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def run(self, name: str, script: str, env: dict[str, str], timeout: float) -> int:
        proc = self.start(name, script, env)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            tail = self.log(name)[-3000:]
            raise AssertionError(f"{name} did not finish within {timeout:g} s:\n{tail}") from None

    def wait_until(self, name: str, script: str, env: dict[str, str], timeout: float) -> None:
        """Retry ``script`` (a health check) until it exits 0."""
        deadline = time.monotonic() + timeout
        while self.run(name, script, env, timeout=max(1.0, deadline - time.monotonic())) != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} still failing after {timeout:g} s:\n{self.log(name)[-3000:]}")
            time.sleep(1)

    def leftovers(self) -> list[int]:
        """Processes whose command line names our private directory (Ray's daemons do)."""
        pids, mark = [], str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if mark in (entry / "cmdline").read_bytes():
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every group (Ray stops its daemons), SIGKILL what is left after ``grace``."""
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        while self.leftovers() and time.monotonic() < deadline:  # e.g. a non-blocking `ray start`'s daemons
            time.sleep(0.5)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5  # a killed process takes a moment to leave /proc
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
