"""``synthetic``: a known function with a controllable duration and failure mode.

Not research: it exists so that the search service can be tested and benchmarked with
trials whose length, result and failure are known in advance (a 1-second trial, a trial
that diverges at step 3, a trial that raises). The loss is a shifted quadratic that
decays towards its floor over the steps, so pruners have curves to compare.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Literal

from core.config import check
from core.contract import Reporter, Result, RunContext, register_experiment
from core.errors import Diverged

__all__ = ["SyntheticConfig", "run_synthetic"]


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    x: float = 0.0
    y: float = 0.0
    steps: int = 5
    step_seconds: float = 0.0
    # raise: a RuntimeError; device: the RuntimeError CUDA gives after an illegal memory access
    fail: Literal["none", "nan", "raise", "device"] = "none"
    fail_at_step: int = 1
    fail_seed: int = -1  # the failure happens only with this seed (-1: with every seed)
    noise: float = 0.0  # the loss's per-seed offset: noise * N(0, 1) drawn from the seed (replicate tests)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.steps >= 1, "steps", f"expected an integer >= 1, got {self.steps}")
        check(self.step_seconds >= 0, "step_seconds", f"expected a number >= 0, got {self.step_seconds}")
        check(1 <= self.fail_at_step <= self.steps, "fail_at_step", f"expected 1..steps, got {self.fail_at_step}")
        check(self.noise >= 0, "noise", f"expected a number >= 0, got {self.noise}")


def _floor(cfg: SyntheticConfig) -> float:
    return (cfg.x - 2.0) ** 2 + (cfg.y + 1.0) ** 2


@register_experiment("synthetic", SyntheticConfig, uses_device=False)
def run_synthetic(cfg: SyntheticConfig, reporter: Reporter, ctx: RunContext) -> Result:
    """Quadratic bowl with minimum 0 at x=2, y=-1; ``steps`` reports, each ``step_seconds`` long."""
    loss = math.inf
    offset = cfg.noise * random.Random(cfg.seed).gauss(0.0, 1.0) if cfg.noise else 0.0
    fails = cfg.fail_seed in (-1, cfg.seed)
    for step in range(1, cfg.steps + 1):
        if cfg.step_seconds:
            time.sleep(cfg.step_seconds)
        if step == cfg.fail_at_step and cfg.fail == "raise" and fails:
            raise RuntimeError(f"synthetic failure at step {step}")
        if step == cfg.fail_at_step and cfg.fail == "device" and fails:
            raise RuntimeError(f"CUDA error: an illegal memory access was encountered (synthetic, step {step})")
        loss = _floor(cfg) + 1.0 / step + offset
        if step == cfg.fail_at_step and cfg.fail == "nan" and fails:
            loss = math.nan
        if not math.isfinite(loss):
            raise Diverged(f"loss is {loss} at step {step}")
        reporter.report(step, {"loss": loss})
    return Result(metrics={"loss": loss, "n_params": 2.0})
