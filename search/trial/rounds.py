"""A population round: its members' trials, told as they end, and the freed slots refilled.

:class:`Round` is the core's :class:`~core.contract.Feed` for one batched group. Each member is
one seed of one trial; when every seed of a trial has ended, the trial's outcome is recorded and
told at once (the sampler sees it before the next ask; a crash later cannot lose it). At each
epoch boundary, while the worker's budget allows (``room``: the study's trial budget, the
launcher's stop, the deadline, the failure streak), slots that ended members freed are refilled
with trials asked from the sampler, whole trials only (a trial's seeds train together). A trial
the round cannot take (its configuration is training in this round, or its population key
differs) waits in ``later`` for the round to end, as an asked trial of a fixed round does.

The fill (how full the population was, averaged over its epochs) is counted here: member-epochs
over slot-epochs, the slots being the round's capacity in trainings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Any

import optuna

from core.config import config_hash
from search.store import Heartbeats
from search.trial.objective import Objective
from search.trial.reporter import TrialRun
from search.trial.tell import recorded, tell, told_without_training

__all__ = ["Round"]


class Round:
    """The members of one batched group and their trials (see the module's docstring)."""

    def __init__(
        self,
        study: optuna.Study,
        objective: Objective,
        told: list[bool],
        *,
        capacity: int = 0,
        key: Hashable = None,
        ask: Callable[[], TrialRun] | None = None,
        room: Callable[[], int] | None = None,
        later: list[TrialRun] | None = None,
        beats: Heartbeats | None = None,
    ) -> None:
        self.study, self.objective, self.told, self.beats = study, objective, told, beats
        self.capacity, self.key, self.ask, self.room = capacity, key, ask, room
        self.later = later if later is not None else []
        self.members: list[tuple[TrialRun, int]] = []  # member index -> (its trial, its seed's position)
        self.ended: dict[int, dict[int, Any]] = {}  # id(run) -> {seed position: outcome}
        self.untold: dict[int, tuple[TrialRun, int]] = {}  # id(run) -> (the trial, its number of seeds)
        self.size = 0  # members training in the current epoch
        self.member_epochs = self.slot_epochs = 0
        self.deferred: BaseException | None = None  # a tell that failed (storage): raised after the round

    def add(self, run: TrialRun) -> list[tuple[Any, Any]]:
        """``run``'s members (config, reporter), numbered after those already in the round."""
        pairs = self.objective.members(run)
        self.members += [(run, pos) for pos in range(len(pairs))]
        self.untold[id(run)] = (run, len(pairs))
        return pairs

    def done(self, index: int, outcome: Any) -> None:
        """Member ``index`` ended; its trial is recorded and told once all its seeds have."""
        run, pos = self.members[index]
        ended = self.ended.setdefault(id(run), {})
        if pos in ended or id(run) not in self.untold:
            return
        ended[pos] = outcome
        if len(ended) < self.untold[id(run)][1]:
            return
        del self.untold[id(run)]
        try:
            outcome = recorded(self.objective, run, self.objective.outcome(run, [ended[p] for p in sorted(ended)]))
            self.told.append(tell(self.study, self.objective, run, outcome))
            if self.beats is not None:  # a refilled round can outlive its trials by hours
                self.beats.discard(self.objective.trial_id(run.trial))
        except Exception as err:  # noqa: BLE001  (storage gone: the worker's loop waits it out after the round)
            self.deferred = self.deferred or err

    def finish(self, got: list[Any]) -> None:
        """After the batched run: every member not yet ended ends with its outcome in ``got``, or
        with the error that broke the run (``got``'s first) when it joined after the run broke."""
        for index in range(len(self.members)):
            self.done(index, got[index] if index < len(got) else got[0])
        if self.deferred is not None:
            raise self.deferred

    @property
    def fill(self) -> tuple[int, int]:
        return self.member_epochs, self.slot_epochs

    def more(self, active: int) -> list[tuple[Any, Any]]:
        """The core's question at an epoch boundary: the members that join now (whole trials)."""
        self.member_epochs += self.size
        self.slot_epochs += self.capacity
        pairs: list[tuple[Any, Any]] = []
        if self.ask is not None and self.deferred is None:
            try:
                pairs = self._refill(active)
            except Exception as err:  # noqa: BLE001  (no refill this epoch: the round goes on)
                print(f"population refill skipped: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        self.size = active + len(pairs)
        return pairs

    def _refill(self, active: int) -> list[tuple[Any, Any]]:
        per_trial = self.objective.spec.study.replicates
        pairs: list[tuple[Any, Any]] = []
        asks = 0  # each ask trains, is told (a repeat, a rejected config) or waits: bounded per boundary
        left = self.room() if self.room is not None else self.capacity  # at every boundary: its housekeeping
        busy = {config_hash(r.config) for r, _ in self.untold.values()}  # configurations training in this round
        while active + len(pairs) + per_trial <= self.capacity and asks < self.capacity and left > 0:
            asks += 1
            run = self.ask()
            if told_without_training(self.study, self.objective, run, self.told):
                continue
            digest = config_hash(run.config)
            if digest in busy or self.objective.experiment.population_key(run.config) != self.key:
                self.later.append(run)
                continue
            pairs += self.add(run)
            busy.add(digest)
            left = self.room() if self.room is not None else left - 1
        return pairs
