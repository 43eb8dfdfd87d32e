"""*When* a resampling round happens: every n optimizer steps, optionally less often later in
training, never during the cool-down batches before an evaluation or the end of training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Trigger"]


@dataclass(kw_only=True)
class Trigger:
    """Decides after each optimizer step whether to rewire.

    ``every_steps``: interval between rounds at the start of training.
    ``interval_growth``: the interval at progress t is ``every_steps · (1 + interval_growth · t)``
    (0 keeps it flat; 3 makes rounds four times rarer by the end: the user's "decrease the
    frequency of removal for later batches").
    ``stop_after``: the fraction of training after which no round fires any more (1: rewire to
    the end; 0.8: the last fifth trains on a fixed wiring, the user's "not during the last
    batches").
    ``cooldown_batches``: the last N batches before every evaluation (the end of each epoch,
    and so the end of training) are trained without rewiring, so the weights of freshly
    grown synapses have settled when the network is measured.
    """

    every_steps: int
    interval_growth: float = 0.0
    cooldown_batches: int = 0
    stop_after: float = 1.0
    steps_per_epoch: int
    total_steps: int
    _next: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._next = self.every_steps

    def interval(self, step: int) -> int:
        t = step / max(1, self.total_steps)
        return max(1, round(self.every_steps * (1.0 + self.interval_growth * t)))

    def in_cooldown(self, batch: int) -> bool:
        """``batch`` is the 0-based index within the epoch of the step just taken."""
        return self.steps_per_epoch - (batch + 1) < self.cooldown_batches

    def fires(self, step: int, batch: int) -> bool:
        """Call once after every optimizer step; ``step`` counts steps from 1."""
        # a round that falls due inside a cool-down waits for the first step after it
        if step < self._next or self.in_cooldown(batch) or step > self.stop_after * self.total_steps:
            return False
        self._next = step + self.interval(step)
        return True
