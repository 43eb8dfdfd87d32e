"""Structural plasticity as one hook for the training loop.

:class:`Plasticity` ties the separate pieces together (criterion = which, growth = where,
schedule = how many, trigger = when, init = new value) and keeps the bookkeeping the user
asked for: rounds done, synapses moved, synapse lifetimes, turnover over training. The
training loop calls it after every optimizer step and knows nothing else about it.
"""

from __future__ import annotations

from typing import Any

import torch

from core.nets.dendritic import DendriticLayer
from core.plasticity.criteria import CRITERIA
from core.plasticity.growth import GROWTH
from core.plasticity.init import NEW_WEIGHTS
from core.plasticity.rewire import counts_for_rate, rewire
from core.plasticity.schedules import SCHEDULES
from core.plasticity.trigger import Trigger

__all__ = ["Plasticity"]


class Plasticity:
    """Resample the synapses of ``layer`` during training, as configured by ``pc``.

    ``pc`` is a plasticity config section (``p``, ``schedule``, ``criterion``, ``growth``,
    ``new_weight_init``, ``optimizer_state``, ``every_steps``, ``interval_growth``,
    ``cooldown_batches``, ``stop_after``, ...); names are resolved to objects here, once.
    """

    def __init__(
        self,
        layer: DendriticLayer,
        optimizer: torch.optim.Optimizer,
        pc: Any,
        *,
        steps_per_epoch: int,
        total_steps: int,
        gen: torch.Generator | None = None,
    ) -> None:
        self.layer, self.optimizer, self.gen = layer, optimizer, gen
        self.p, self.decay = pc.p, pc.decay
        self.criterion = CRITERIA.get(pc.criterion, "plasticity.criterion")(pc)
        self.grow = GROWTH.get(pc.growth, "plasticity.growth")(pc)
        self.schedule = SCHEDULES.get(pc.schedule, "plasticity.schedule")
        self.new_weights = NEW_WEIGHTS.get(pc.new_weight_init, "plasticity.new_weight_init")(pc)
        self.reset_state = pc.optimizer_state == "reset"
        self.trigger = Trigger(
            every_steps=pc.every_steps,
            interval_growth=pc.interval_growth,
            cooldown_batches=pc.cooldown_batches,
            stop_after=pc.stop_after,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
        )
        self.total_steps = total_steps
        self.rounds = 0
        self.moved = 0
        self.rates: list[float] = []  # percent, one per round
        self.round_steps: list[int] = []
        self.round_moved: list[int] = []
        self._birth = torch.zeros_like(layer.idx)  # step at which each slot's synapse was grown
        self._lifetimes: list[torch.Tensor] = []

    def __call__(self, step: int, batch: int) -> None:
        """After every optimizer step: update criterion state; rewire when the trigger fires."""
        self.criterion.observe(self.layer.weight)
        if self.trigger.fires(step, batch):
            self.round(step)

    def round(self, step: int) -> torch.Tensor:
        """One resampling round now; returns the mask of moved slots."""
        n = self.rounds + 1
        rate = self.schedule(self.p, n, step / max(1, self.total_steps), self.decay)
        layer = self.layer
        k = counts_for_rate(rate, layer.n_dendrites, layer.synapses, self.gen, layer.idx.device)
        # a dendrite wider than half the input can not regrow more than the inputs it lacks
        k.clamp_(max=layer.n_inputs - layer.synapses)
        scores = self.criterion.scores(layer.weight.detach(), self.gen)
        drop = rewire(
            layer,
            k,
            scores=scores,
            grow=self.grow,
            new_weights=self.new_weights,
            optimizer=self.optimizer,
            reset_state=self.reset_state,
            gen=self.gen,
        )
        self.criterion.regrown(drop, layer.weight.detach())
        self._lifetimes.append((step - self._birth[drop]).cpu())
        self._birth[drop] = step
        moved = int(drop.sum())
        self.rounds, self.moved = n, self.moved + moved
        self.rates.append(rate)
        self.round_steps.append(step)
        self.round_moved.append(moved)
        return drop

    def lifetimes(self) -> torch.Tensor:
        """Steps each removed synapse had lived (from its growth, or from step 0) when removed."""
        return torch.cat(self._lifetimes) if self._lifetimes else torch.zeros(0, dtype=torch.long)

    def ages(self, step: int) -> torch.Tensor:
        """Steps each current synapse has lived so far (censored lifetimes)."""
        return (step - self._birth).flatten().cpu()

    def summary(self, step: int) -> dict[str, float]:
        life = self.lifetimes().float()
        ages = self.ages(step).float()
        return {
            "rounds": float(self.rounds),
            "synapses_moved": float(self.moved),
            "mean_lifetime_steps": float(life.mean()) if life.numel() else float("nan"),
            "median_lifetime_steps": float(life.median()) if life.numel() else float("nan"),
            "original_synapses_kept": float((self._birth == 0).float().mean()),
            "mean_age_steps": float(ages.mean()),
        }
