"""How a launch ends early: stop requests (SIGINT, SIGTERM) and workers the cluster never placed."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

import optuna

from search.launch.worker import budget_met
from search.store import budget_counts, storage_outage
from search.studyfile import StudySpec

__all__ = ["Stopper", "drop_unplaced", "launch_done"]


class Stopper:
    """A stop request per SIGINT (Ctrl-C) or SIGTERM (``kill``, ``docker compose stop``, Slurm,
    Kubernetes): the first is a graceful stop, the second an immediate one. Remembers the first
    signal, which gives the exit status (130 for SIGINT, 143 for SIGTERM: 128 + the signal)."""

    def __init__(self) -> None:
        self.requests = 0
        self.first: int | None = None

    def __call__(self, signum, frame) -> None:
        self.requests += 1
        self.first = self.first or signum
        name = signal.Signals(signum).name
        msg = (
            f"{name}: stopping: running trials end at their next step (Ctrl-C or SIGTERM again to stop now)"
            if self.requests == 1
            else f"{name}: stopping now"
        )
        print(msg, file=sys.stderr, flush=True)

    @property
    def code(self) -> int:
        return 128 + int(self.first or signal.SIGINT)


def launch_done(spec: StudySpec, storage: optuna.storages.BaseStorage, sid: int, deadline: float | None) -> bool:
    """The study's budget (the worker's own rule, :func:`search.launch.worker.budget_met`, on one count
    query) or the launch's deadline is reached. While the storage is unreachable (a database
    restart) the answer is no: the next poll asks again."""
    if deadline is not None and time.time() >= deadline:
        return True
    try:
        finished, _running = budget_counts(storage, sid)
    except Exception as err:  # noqa: BLE001  re-raised unless the storage is unreachable
        if storage_outage(err) is None:
            raise
        return False
    return budget_met(spec, finished)


def drop_unplaced(pending: dict, placed: dict, done: Callable[[], bool]) -> None:
    """Forget (and kill) the workers Ray never placed, once ``done()`` (budget met, stop asked): more
    were asked for than the cluster has room for, and placed workers end by themselves; these would be
    waited for ever. ``done`` is only asked when such a worker exists (it may read the storage)."""
    import ray

    unplaced = [(ref, actor) for ref, actor in pending.items() if not ray.wait([placed[actor]], timeout=0)[0]]
    if not unplaced or not done():
        return
    for ref, actor in unplaced:
        pending.pop(ref)
        ray.kill(actor, no_restart=True)
