"""One configuration, one training, however many launchers and workers share a study.

Two trials whose full configurations agree (the config hash, seed included) are the same
work: the same numbers come out. So that no compute is spent twice and no two trials write
into one work directory:

* a trial first *claims* its configuration, an exclusive lock on ``work/<hash>.lock`` beside
  its work directory (``fcntl.flock``: released by the kernel when the process dies, so a
  killed worker never leaves a claim behind); a second trial of the same configuration, in
  this launch or another one on the machine, waits for the claim instead of training beside
  it and deleting its files;
* once it holds the claim, a trial whose configuration already has a COMPLETE trial does not
  train: it is recorded with that trial's values and metrics and ``repeat_of`` naming it.

A retried trial (stale heartbeat, killed worker, Ctrl-C) has its predecessor's configuration,
so it claims the same directory and resumes from the checkpoints left there.

Launchers on machines that share no work directory do not share claims: two of them can start
the same configuration at the same instant (rare: an enqueued baseline popped by both at
start). Once one of them has finished, every later trial of that configuration is a repeat.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.store import fail_stale, read_record

__all__ = ["POLL_S", "claim", "finished_twin", "lock_path", "repeat_result"]

POLL_S = 0.5
_NOT_COPIED = frozenset(
    {
        "config",
        "config_hash",
        "seed",
        "device",
        "worker",
        "launch_id",
        "version",
        "git_commit",
        "sampler_seed",
        "wall_time_s",
        "fail_reason",
        "artifact_error",
        "requeued_from",
    }
)


@contextlib.contextmanager
def claim(lock_path: Path, wait: Callable[[], None]) -> Iterator[None]:
    """Hold the exclusive lock at ``lock_path`` for the block; call ``wait()`` (which may raise,
    e.g. when the launcher stops) every ``POLL_S`` seconds while another process holds it.

    The lock file is removed by its holder when the work directory is removed, so a waiter may
    lock a file that is no longer there: it checks that the path still names the file it locked
    and tries again otherwise (the usual lock-file protocol; ``flock`` alone cannot see it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            wait()
            time.sleep(POLL_S)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def lock_path(workdir: Path) -> Path:
    """The configuration's claim beside its work directory (:func:`claim`)."""
    return workdir.with_name(workdir.name + ".lock")


def _twins(study: optuna.Study, config_hash: str, number: int) -> list[FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
        if t.number != number and read_record(t).config_hash == config_hash
    ]


def finished_twin(study: optuna.Study, config_hash: str, number: int, wait: Callable[[], None]) -> FrozenTrial | None:
    """The COMPLETE trial of ``study`` (other than ``number``) that trained this config hash, or None.

    Call it while holding the configuration's claim. A twin that has finished training but is
    still RUNNING (its worker released the claim and is telling the result) is waited for, so
    that its result is reused rather than computed again; one that fails instead is not a twin,
    nor is one whose worker died while telling (failed here as stale, like any other)."""
    while True:
        twins = _twins(study, config_hash, number)
        complete = [t for t in twins if t.state == TrialState.COMPLETE]
        if complete:
            return min(complete, key=lambda t: (read_record(t).repeat_of is not None, t.number))  # the one that trained
        if not any(read_record(t).wall_time_s is not None for t in twins):  # nobody is telling a result
            return None
        wait()
        time.sleep(POLL_S)
        fail_stale(study)


def repeat_result(record: dict, original: FrozenTrial) -> tuple[list[float], dict]:
    """``original``'s values, and the result of a trial that repeats it (``record`` is the flat
    view of ``original``'s record, ``search.store.read_record(original).flat()``): its metrics,
    history and ``repeat_of`` (the repeat's own provenance stays its own)."""
    copied = {k: v for k, v in record.items() if k not in _NOT_COPIED}
    return list(original.values), {**copied, "repeat_of": original.number}
