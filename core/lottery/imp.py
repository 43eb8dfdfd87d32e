"""Iterative magnitude pruning: train, prune, rewind, repeat, with a checkpoint per level.

Level 0 trains the dense network. Level i ≥ 1 prunes the trained weights of level i−1
(scope + schedule), rewinds every parameter to the rewind point (initial values, or the
values after ``rewind_step`` optimizer steps of level 0), re-applies the masks and trains
again. Each level's training is seeded by (seed, level) alone, so a run resumed from the
checkpoint of level L continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.data.tasks import SplitData
from core.lottery.pruning import prunable_names, prune_step
from core.lottery.train import TrainStats, train_level
from core.nets.mlp import MaskedMLP

if TYPE_CHECKING:
    from core.lottery.config import ImpSection, ImpTrainConfig

__all__ = [
    "LevelOutcome",
    "OnLevel",
    "run_imp",
    "load_checkpoints",
    "params_of",
    "masks_of",
    "load_params",
    "level_seed",
    "prune_plan",
    "prune_and_rewind",
    "finish_level",
]

OnLevel = Callable[[int, MaskedMLP, TrainStats | None], Mapping[str, float]]


@dataclass(frozen=True)
class LevelOutcome:
    """One finished level: its masks, trained parameters and the metrics ``on_level`` returned."""

    level: int
    masks: dict[str, torch.Tensor]
    trained: dict[str, torch.Tensor]
    metrics: dict[str, float]


def params_of(model: MaskedMLP) -> dict[str, torch.Tensor]:
    """Copies of every weight and bias of ``model``, by parameter name."""
    return {n: p.detach().clone() for n, (p, _m) in model.param_masks().items()}


def masks_of(model: MaskedMLP) -> dict[str, torch.Tensor]:
    """Copies of every mask of ``model``, by parameter name."""
    return {n: m.detach().clone() for n, (_p, m) in model.param_masks().items()}


def load_params(model: MaskedMLP, values: Mapping[str, torch.Tensor]) -> None:
    """Copy ``values`` (by parameter name) into ``model``'s weights and biases."""
    with torch.no_grad():
        for n, (p, _m) in model.param_masks().items():
            p.copy_(values[n])


def _write_atomic(obj: dict, path: Path) -> None:
    # Write then rename: a worker killed mid-save never leaves a half checkpoint behind.
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoints(ckpt_dir: Path, run_id: str) -> tuple[dict | None, list[LevelOutcome]]:
    """The rewind point and the finished levels 0..L of run ``run_id`` found in ``ckpt_dir``."""
    rewind_path = ckpt_dir / "rewind.pt"
    if not rewind_path.exists():
        return None, []
    rewind = torch.load(rewind_path, map_location="cpu", weights_only=True)
    if rewind.get("run_id") != run_id:
        return None, []
    done: list[LevelOutcome] = []
    while (p := ckpt_dir / f"level_{len(done):03d}.pt").exists():
        ck = torch.load(p, map_location="cpu", weights_only=True)
        if ck.get("run_id") != run_id:
            break
        done.append(LevelOutcome(ck["level"], ck["masks"], ck["trained"], dict(ck["metrics"])))
    return rewind["state"], done


def run_imp(
    model: MaskedMLP,
    data: SplitData,
    train_cfg: ImpTrainConfig,
    imp_cfg: ImpSection,
    seed: int,
    on_level: OnLevel,
    ckpt_dir: Path | None = None,
    run_id: str = "",
) -> list[LevelOutcome]:
    """Run levels 0..``imp_cfg.levels`` (resuming from ``ckpt_dir`` when it holds this run)."""
    names, initial = prune_plan(model, imp_cfg)
    rewind, done = (None, [])
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        rewind, done = load_checkpoints(ckpt_dir, run_id)
    if rewind is None or not done:
        done = []
        rewind = params_of(model) if imp_cfg.rewind_step == 0 else None
        captured: dict[str, dict[str, torch.Tensor]] = {}

        def capture(step: int) -> None:
            if step == imp_cfg.rewind_step:
                captured["state"] = params_of(model)

        stats = train_level(model, data, train_cfg, seed=level_seed(seed, 0), on_step=capture)
        if rewind is None:
            # Training stopped before the rewind step: rewind to where level 0 ended.
            rewind = captured.get("state", params_of(model))
        if ckpt_dir is not None:
            _write_atomic({"run_id": run_id, "state": rewind}, ckpt_dir / "rewind.pt")
        done.append(finish_level(model, 0, stats, on_level, ckpt_dir, run_id))
    else:
        last = done[-1]
        model.set_masks(last.masks)
        load_params(model, last.trained)
    for level in range(len(done), imp_cfg.levels + 1):
        if imp_cfg.stop_at_split and done[-1].metrics.get("split", 0.0) >= 1.0:
            break
        prune_and_rewind(model, names, initial, imp_cfg, level, rewind)
        stats = train_level(model, data, train_cfg, seed=level_seed(seed, level))
        done.append(finish_level(model, level, stats, on_level, ckpt_dir, run_id))
    return done


def level_seed(seed: int, level: int) -> int:
    """The seed of level ``level``'s batch order: (seed, level) alone, so a resumed run continues alike."""
    return int(seed) * 1_000_003 + level


def prune_plan(model: MaskedMLP, imp_cfg: ImpSection) -> tuple[list[str], dict[str, int]]:
    """The prunable names and each one's initial entry count (fixed for the whole run)."""
    names = prunable_names(list(model.param_masks()), imp_cfg.prune_bias)
    return names, {n: model.param_masks()[n][1].numel() for n in names}


def prune_and_rewind(
    model: MaskedMLP,
    names: list[str],
    initial: dict[str, int],
    imp_cfg: ImpSection,
    level: int,
    rewind: Mapping[str, torch.Tensor],
) -> None:
    """Level ``level``'s pruning of the trained ``model``, then rewinding to ``rewind`` under the new masks."""
    pm = model.param_masks()
    new_masks = prune_step(
        {n: pm[n] for n in names},
        names,
        len(model.layers),
        imp_cfg.scope,
        imp_cfg.schedule,
        imp_cfg,
        level,
        initial,
    )
    load_params(model, rewind)
    model.set_masks(new_masks)


def finish_level(
    model: MaskedMLP,
    level: int,
    stats: TrainStats | None,
    on_level: OnLevel,
    ckpt_dir: Path | None = None,
    run_id: str = "",
) -> LevelOutcome:
    """End level ``level``: apply the masks, ask ``on_level`` for its metrics, checkpoint when asked."""
    model.apply_masks()
    metrics = {k: float(v) for k, v in on_level(level, model, stats).items()}
    out = LevelOutcome(level, masks_of(model), params_of(model), metrics)
    if ckpt_dir is not None:
        _write_atomic(
            {"run_id": run_id, "level": level, "masks": out.masks, "trained": out.trained, "metrics": metrics},
            ckpt_dir / f"level_{level:03d}.pt",
        )
    return out
