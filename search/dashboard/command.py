"""``python -m search.dashboard STUDY.yaml``: watch a study in optuna-dashboard.

Serves optuna-dashboard on the study's storage (SQLite or PostgreSQL; running studies show new
trials as they arrive) and its artifact store (the trials' PNG pictures), on 127.0.0.1 unless
``--host`` says otherwise; prints the study's URL and serves until Ctrl-C. Nothing is created: a
missing database or study is a one-line error, a missing artifact directory means no pictures
yet. Exit status: 0 stopped, 2 bad input. :class:`search.dashboard.process.DashboardProcess` runs it
beside a launch.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import sqlalchemy
from optuna_dashboard import wsgi

from search.cli import add_storage, add_study_file, input_error
from search.store import StorageUnavailable, artifact_store, open_storage, public_url, sqlite_path, studies
from search.studyfile import SpecError, StudySpec, load_spec

__all__ = ["DashboardError", "is_loopback", "main", "make_server", "open_study", "serve", "study_url"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
PARENT_ENV = "_SPARSESEARCH_DASHBOARD_PARENT"  # set in a DashboardProcess child: the parent pid to outlive


class DashboardError(RuntimeError):
    """The dashboard cannot start; ``str(err)`` is ``<field>: <message>``, one line."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume other machines can reach it
        return False


def study_url(host: str, port: int, study_id: int | None) -> str:
    """The URL a browser on this machine opens (a wildcard bind is shown as loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 address in a URL
    path = f"/dashboard/studies/{study_id}" if study_id is not None else "/dashboard"
    return f"http://{shown}:{port}{path}"


def open_study(spec: StudySpec):
    """``(storage, artifact_store, study_id)`` for the spec's study, creating nothing."""
    try:
        storage = open_storage(
            spec.study.storage,
            heartbeat_interval=spec.resources.heartbeat_interval,
            max_retries=spec.resources.max_retries,
            create_dirs=False,
        )
    except StorageUnavailable as err:
        raise DashboardError(f"study.storage: {err}") from None
    except (sqlalchemy.exc.SQLAlchemyError, RuntimeError) as err:  # e.g. a schema from another Optuna
        raise DashboardError(f"study.storage: {str(err).strip().splitlines()[0]}") from None
    try:
        study_id = studies.study_id(storage, spec.study.name)
    except KeyError:
        raise DashboardError(
            f"study.name: no study {spec.study.name!r} in {public_url(spec.study.storage)}; "
            f"start it with python -m search.launch {spec.source}"
        ) from None
    # Not created here: a study without pictures yet simply lists none.
    return storage, artifact_store(Path(spec.study.artifacts).resolve(), create=False), study_id


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """Threaded (a browser fetches many files at once); exits without waiting for requests."""

    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        # HTTPServer's own server_bind does a reverse DNS lookup: it can hang where there is no DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()

    def handle_error(self, request, client_address) -> None:
        err = sys.exc_info()[1]
        if isinstance(err, ConnectionError):  # a browser closing a connection early is normal
            return
        print(f"warning: dashboard request failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:
        pass  # one line per request would drown the launcher's progress lines


def make_server(app, host: str, port: int) -> _Server:
    """Bind a threaded WSGI server now (so a taken port is reported before anything is printed)."""
    cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
    try:
        server = cls((host, port), _QuietHandler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise DashboardError(
                f"--port: port {port} on {host} is already in use; choose another with --port"
            ) from None
        if err.errno == errno.EACCES:
            raise DashboardError(f"--port: not allowed to listen on {port}; use one above 1023") from None
        raise DashboardError(f"--host: cannot listen on {host}:{port}: {err.strerror or err}") from None
    server.set_app(app)
    return server


def _stop_when_orphaned(parent: int, server: _Server) -> None:
    # A launcher killed with SIGKILL cannot stop its dashboard; without this it would hold the port forever.
    while os.getppid() == parent:
        time.sleep(1.0)
    server.shutdown()


def serve(spec: StudySpec, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Serve the dashboard until Ctrl-C or SIGTERM; raises :class:`DashboardError` on bad input."""
    storage, store, study_id = open_study(spec)
    server = make_server(wsgi(storage, artifact_store=store), host, port)
    port = server.server_address[1]  # the real one when asked for port 0

    def stop(signum, frame):  # SIGTERM (DashboardProcess, docker stop) ends like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if not is_loopback(host):
            print(
                f"warning: the dashboard on {host}:{port} is writable (notes, trial states, deleting "
                "studies) by anyone who can reach it; bind to 127.0.0.1 unless the network is trusted",
                file=sys.stderr,
                flush=True,
            )
        print(f"dashboard: {study_url(host, port, study_id)}", flush=True)
        where = sqlite_path(spec.study.storage) or public_url(spec.study.storage)
        print(f"study {spec.study.name!r} on {where}; artifacts in {spec.study.artifacts}; Ctrl-C to stop")
        parent = os.environ.pop(PARENT_ENV, None)
        if parent:  # a DashboardProcess child: stopped by its parent, or when the parent is gone
            threading.Thread(target=_stop_when_orphaned, args=(int(parent), server), daemon=True).start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("dashboard stopped", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Description and options of ``python -m search.dashboard`` (also ``sparsesearch dashboard``) on ``p``."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_study_file(p)
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1: this "
        "machine only; the dashboard can edit and delete studies, so widen it only on a trusted "
        "network)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080; 0 picks a free one)")
    add_storage(p)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.dashboard")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        if not 0 <= args.port <= 65535:
            raise DashboardError(f"--port: expected 0..65535, got {args.port}")
        spec = load_spec(args.study_file, storage=args.storage)
        return serve(spec, args.host, args.port)
    except (SpecError, DashboardError) as err:
        return input_error(args.study_file, err)
    except KeyboardInterrupt:  # Ctrl-C while still starting
        return 130
