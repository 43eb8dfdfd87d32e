"""Iterative magnitude pruning: train, prune, rewind, repeat, with a checkpoint per level.

Level 0 trains the dense network. Level i ≥ 1 prunes the trained weights of level i−1
(scope + schedule), rewinds every parameter to the rewind point (initial values, or the
values after ``rewind_step`` optimizer steps of level 0), re-applies the masks and trains
again. Each level's training is seeded by (seed, level) alone, so a run resumed from the
checkpoint of level L continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import torch

from core.data.tasks import SplitData
from core.lottery.pruning import prunable_names, prune_step
from core.lottery.train import TrainStats, train_level
from core.nets.mlp import MaskedMLP

if TYPE_CHECKING:
    from core.lottery.config import ImpSection, TrainConfig

__all__ = ["LevelOutcome", "run_imp", "load_checkpoints"]

OnLevel = Callable[[int, MaskedMLP, TrainStats | None], Mapping[str, float]]


@dataclass(frozen=True)
class LevelOutcome:
    """One finished level: its masks, trained parameters and the metrics ``on_level`` returned."""

    level: int
    masks: dict[str, torch.Tensor]
    trained: dict[str, torch.Tensor]
    metrics: dict[str, float]


def _params(model: MaskedMLP) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, (p, _m) in model.param_masks().items()}


def _masks(model: MaskedMLP) -> dict[str, torch.Tensor]:
    return {n: m.detach().clone() for n, (_p, m) in model.param_masks().items()}


def _load_params(model: MaskedMLP, values: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, (p, _m) in model.param_masks().items():
            p.copy_(values[n])


def _save(obj: dict, path: Path) -> None:
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
    train_cfg: "TrainConfig",
    imp_cfg: "ImpSection",
    seed: int,
    on_level: OnLevel,
    ckpt_dir: Path | None = None,
    run_id: str = "",
) -> list[LevelOutcome]:
    """Run levels 0..``imp_cfg.levels`` (resuming from ``ckpt_dir`` when it holds this run)."""
    names, initial = _prune_plan(model, imp_cfg)
    rewind, done = (None, [])
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        rewind, done = load_checkpoints(ckpt_dir, run_id)
    if rewind is None or not done:
        done = []
        rewind = _params(model) if imp_cfg.rewind_step == 0 else None
        captured: dict[str, dict[str, torch.Tensor]] = {}

        def capture(step: int) -> None:
            if step == imp_cfg.rewind_step:
                captured["state"] = _params(model)

        stats = train_level(model, data, train_cfg, seed=_level_seed(seed, 0), on_step=capture)
        if rewind is None:
            # Training stopped before the rewind step: rewind to where level 0 ended.
            rewind = captured.get("state", _params(model))
        if ckpt_dir is not None:
            _save({"run_id": run_id, "state": rewind}, ckpt_dir / "rewind.pt")
        done.append(_finish(model, 0, stats, on_level, ckpt_dir, run_id))
    else:
        last = done[-1]
        model.set_masks(last.masks)
        _load_params(model, last.trained)
    for level in range(len(done), imp_cfg.levels + 1):
        if imp_cfg.stop_at_split and done[-1].metrics.get("split", 0.0) >= 1.0:
            break
        _prune_and_rewind(model, names, initial, imp_cfg, level, rewind)
        stats = train_level(model, data, train_cfg, seed=_level_seed(seed, level))
        done.append(_finish(model, level, stats, on_level, ckpt_dir, run_id))
    return done


def _level_seed(seed: int, level: int) -> int:
    return int(seed) * 1_000_003 + level


def _prune_plan(model: MaskedMLP, imp_cfg: "ImpSection") -> tuple[list[str], dict[str, int]]:
    """The prunable names and each one's initial entry count (fixed for the whole run)."""
    names = prunable_names(list(model.param_masks()), imp_cfg.prune_bias)
    return names, {n: model.param_masks()[n][1].numel() for n in names}


def _prune_and_rewind(model: MaskedMLP, names: list[str], initial: dict[str, int], imp_cfg: "ImpSection",
                      level: int, rewind: Mapping[str, torch.Tensor]) -> None:
    """Level ``level``'s pruning of the trained ``model``, then rewinding to ``rewind`` under the new masks."""
    pm = model.param_masks()
    new_masks = prune_step(
        {n: pm[n] for n in names}, names, len(model.layers), imp_cfg.scope,
        imp_cfg.schedule, imp_cfg, level, initial,
    )
    _load_params(model, rewind)
    model.set_masks(new_masks)


def _finish(model, level, stats, on_level, ckpt_dir=None, run_id="") -> LevelOutcome:
    model.apply_masks()
    metrics = {k: float(v) for k, v in on_level(level, model, stats).items()}
    out = LevelOutcome(level, _masks(model), _params(model), metrics)
    if ckpt_dir is not None:
        _save(
            {"run_id": run_id, "level": level, "masks": out.masks, "trained": out.trained, "metrics": metrics},
            ckpt_dir / f"level_{level:03d}.pt",
        )
    return out
