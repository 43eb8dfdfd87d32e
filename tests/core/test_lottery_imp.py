"""IMP rewinds survivors exactly, and a resumed run ends exactly like an uninterrupted one."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import core.lottery.imp as imp_mod
from core import get_experiment
from core.config import from_dict
from core.contract import RunContext
from core.experiments.imp import build_data, build_model
from core.lottery.config import ImpConfig
from core.lottery.imp import run_imp
from core.lottery.train import train_level

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {
    "data": {"n_samples": 300},
    "model": {"widths": [8, 8]},
    "train": {"max_epochs": 15, "patience": 3, "batch_size": 64},
    "imp": {"levels": 3, "target_params": 30},
    "analysis": {"plots": False, "trajectories": False},
}


def _cfg(**imp) -> ImpConfig:
    doc = {k: dict(v) for k, v in SMALL.items()}
    doc["imp"].update(imp)
    return from_dict(ImpConfig, doc)


def _entries(monkeypatch):
    """Record the parameters and masks at the start of every level's training."""
    seen = []
    real = imp_mod.train_level

    def spy(model, data, cfg, seed, on_step=None):
        seen.append({n: (p.detach().clone(), m.clone()) for n, (p, m) in model.param_masks().items()})
        return real(model, data, cfg, seed, on_step)

    monkeypatch.setattr(imp_mod, "train_level", spy)
    return seen


def _run(cfg, ckpt=None):
    ctx = RunContext()
    data = build_data(cfg, ctx)
    model = build_model(cfg, data)
    init = {n: p.detach().clone() for n, (p, _m) in model.param_masks().items()}
    levels = run_imp(model, data, cfg.train, cfg.imp, cfg.seed, lambda lv, m, s: {"level": lv}, ckpt, "test")
    return data, init, levels


@pytest.mark.parametrize("prune_bias", [False, True])
def test_rewinding_to_init_restores_survivors_exactly(monkeypatch, prune_bias):
    seen = _entries(monkeypatch)
    _data, init, levels = _run(_cfg(prune_bias=prune_bias))
    assert len(seen) == 4
    for level in range(1, 4):
        for n, (value, mask) in seen[level].items():
            assert torch.equal(value, init[n] * mask), (level, n)
            assert torch.equal(mask, levels[level].masks[n])
        # the level's masks really pruned something
        assert sum(int(m.sum()) for _v, m in seen[level].values()) < sum(
            int(m.sum()) for _v, m in seen[level - 1].values()
        )


def test_rewinding_to_step_k_restores_the_values_after_k_steps(monkeypatch):
    cfg = _cfg(rewind_step=4)
    # Independent reconstruction: train level 0 from the same init and seed, keep step 4.
    data = build_data(cfg, RunContext())
    model = build_model(cfg, data)
    at_k = {}

    def grab(step):
        if step == 4:
            at_k.update({n: p.detach().clone() for n, (p, _m) in model.param_masks().items()})

    train_level(model, data, cfg.train, seed=imp_mod.level_seed(cfg.seed, 0), on_step=grab)
    seen = _entries(monkeypatch)
    _run(cfg)
    for n, (value, mask) in seen[1].items():
        assert torch.equal(value, at_k[n] * mask), n
    assert not all(torch.equal(at_k[n], p) for n, (p, _m) in seen[0].items())  # step 4 ≠ init


class _Crash(RuntimeError):
    pass


class _CrashAt:
    def __init__(self, level):
        self.level, self.steps = level, []

    def report(self, step, metrics):
        self.steps.append(step)
        if step == self.level:
            raise _Crash(step)


@pytest.mark.parametrize("crash_level", [1, 2])
def test_resume_equals_uninterrupted(tmp_path, crash_level):
    exp = get_experiment("imp")
    cfg = _cfg()
    whole = exp.run(cfg, _CrashAt(-1), RunContext(workdir=tmp_path / "whole"))
    # The crash happens while level `crash_level` is being reported, after its checkpoint was not
    # yet written: levels 0..crash_level-1 are on disk.
    with pytest.raises(_Crash):
        exp.run(cfg, _CrashAt(crash_level), RunContext(workdir=tmp_path / "cut"))
    again = _CrashAt(-1)
    resumed = exp.run(cfg, again, RunContext(workdir=tmp_path / "cut"))
    assert again.steps == list(range(crash_level, cfg.imp.levels + 1))  # earlier levels were not retrained
    for k, v in whole.metrics.items():
        if k != "wall_time_s":
            assert resumed.metrics[k] == v, k
    final = torch.load(tmp_path / "whole" / "imp_checkpoints" / "level_003.pt", weights_only=True)
    final2 = torch.load(tmp_path / "cut" / "imp_checkpoints" / "level_003.pt", weights_only=True)
    for n in final["trained"]:
        assert torch.equal(final["trained"][n], final2["trained"][n])
        assert torch.equal(final["masks"][n], final2["masks"][n])


def test_a_different_config_does_not_resume(tmp_path):
    exp = get_experiment("imp")
    cfg = _cfg()
    exp.run(cfg, _CrashAt(-1), RunContext(workdir=tmp_path))
    other = dataclasses.replace(cfg, seed=1)
    rep = _CrashAt(-1)
    exp.run(other, rep, RunContext(workdir=tmp_path))
    assert rep.steps == [0, 1, 2, 3]
