"""Live progress of a study, read from the storage: one line per finished trial plus a status line."""

from __future__ import annotations

import sys
import time
from collections import Counter

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.store import read_record
from search.studyfile import StudySpec

__all__ = ["Progress", "format_duration", "describe_trial", "short"]


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def short(value: object) -> str:
    """A value as the progress lines, the summary, the report and rerun show it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe_trial(t: FrozenTrial) -> str:
    """``trial 7 COMPLETE  value=0.93  x=1.2 y=-0.3  (4.1 s)`` or the failure reason."""
    params = " ".join(f"{k}={short(v)}" for k, v in t.params.items())
    record = read_record(t)
    if t.state == TrialState.COMPLETE:
        outcome = "values=" + ",".join(short(v) for v in t.values) if len(t.values) > 1 else f"value={short(t.value)}"
        if isinstance(record.n_seeds, (int, float)):  # study.replicates: a mean over seeds
            outcome += f" (mean of {int(record.n_seeds)} seeds)"
    else:
        outcome = record.fail_reason or ""
    wall = record.wall_time_s
    took = f"({wall:.1f} s)" if isinstance(wall, (int, float)) else ""
    return f"trial {t.number:4d} {t.state.name:8s} {outcome}  {params}  {took}".rstrip()


class Progress:
    """Polls the storage; prints each newly finished trial once and a status line."""

    def __init__(self, study: optuna.Study, spec: StudySpec, *, stream=None) -> None:
        self.study, self.spec, self.stream = study, spec, stream or sys.stdout  # at call time: redirectable
        self.started = time.monotonic()
        self.seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        self.finished_before = self._counts()[0]
        self._last_status = ""

    def _counts(self) -> tuple[int, Counter]:
        counts = Counter(t.state.name for t in self.study.get_trials(deepcopy=False))
        return counts["COMPLETE"] + counts["PRUNED"], counts

    def _best(self) -> str:
        if self.spec.multi_objective:
            return f"pareto {len(self.study.best_trials)}"
        try:
            return f"best {self.study.best_value:.5g}"
        except ValueError:
            return "best -"

    def poll(self, final: bool = False) -> None:
        for t in self.study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in self.seen:
                self.seen.add(t.number)
                print(describe_trial(t), file=self.stream, flush=True)
        finished, counts = self._counts()
        budget = self.spec.study.n_trials
        elapsed = time.monotonic() - self.started
        done_here = finished - self.finished_before
        eta = ""
        if budget and done_here > 0 and finished < budget:
            eta = f", ~{format_duration(elapsed / done_here * (budget - finished))} left"
        res = self.spec.resources
        fill = ""
        if res.population > 1:  # trainings in flight over the workers' population slots
            slots = res.workers * self.spec.trials_per_round() * self.spec.study.replicates
            fill = f" (populations {min(1.0, counts['RUNNING'] * self.spec.study.replicates / slots):.0%} full)"
        status = (
            f"[{finished}/{budget if budget else '-'}] running {counts['RUNNING']}{fill} | "
            f"waiting {counts['WAITING']} | pruned {counts['PRUNED']} | failed {counts['FAIL']} | "
            f"{self._best()} | {format_duration(elapsed)} elapsed{eta}"
        )
        changed = status.split(" | ")[:-1] != self._last_status.split(" | ")[:-1]
        if changed or (final and not self._last_status):
            print(status, file=self.stream, flush=True)
            self._last_status = status
