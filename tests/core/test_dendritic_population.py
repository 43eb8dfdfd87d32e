"""The batched dendritic population against the unbatched reference, member by member.

On CPU every member must get bitwise the result of ``run_dendritic`` alone (no tolerance):
the same reported rows and final metrics (except the clocks ``wall_time_s`` and
``train_time_s``), the same trained weights and synapse tables (``idx``, i.e. the masks)
after a few hundred steps, the same rewiring rounds and synapses moved per round. A member
that diverges, whose rewiring raises, or whose reporter raises (pruned) leaves; the others are
unchanged. ``dendritic_population_key`` separates configs that cannot share a batch.
"""

from __future__ import annotations

import math

import pytest
import torch

import core.experiments.dendritic as reference
import core.experiments.dendritic_population as population
from core import get_experiment
from core.config import from_dict, replace_path
from core.contract import NullReporter, RunContext
from core.errors import Diverged
from core.experiments.dendritic import DendriticConfig
from core.experiments.dendritic_population import run_dendritic_population
from core.plasticity import RewireError
from tests.helpers import MNIST_DIR

pytestmark = pytest.mark.usefixtures("mnist_dir", "one_thread")

# 100 steps per epoch (6400 examples, batch 64), 3 epochs: 300 optimizer steps per member
BASE = {
    "train": {"epochs": 3, "train_subset": 6400, "test_subset": 1000, "batch_size": 64},
    "plasticity": {"every_steps": 20},
    "plots": False,
}
# Eight members that differ in everything a member may differ in.
MIXED = [
    {"seed": 0},
    {"seed": 1, "train.lr": 1e-3, "plasticity.criterion": "ema", "plasticity.schedule": "root", "plasticity.p": 10.0},
    {
        "seed": 2,
        "plasticity.criterion": "stochastic",
        "plasticity.growth": "lrf",
        "plasticity.new_weight_init": "he",
        "plasticity.optimizer_state": "reset",
    },
    {"seed": 3, "train.weight_decay": 1e-4, "plasticity.enabled": False},
    {
        "seed": 4,
        "plasticity.interval_growth": 2.0,
        "plasticity.cooldown_batches": 30,
        "model.input_sampling": "lrf",
        "plasticity.criterion": "distribution",
        "plasticity.new_weight_init": "target",
        "plasticity.target": "laplace",
        "plasticity.target_truncate": 0.9,
    },
    {
        "seed": 5,
        "plasticity.every_steps": 7,
        "plasticity.schedule": "exponential",
        "plasticity.new_weight_init": "small",
        "train.epochs": 2,
        "curves": False,
    },
    {
        "seed": 6,
        "plasticity.schedule": "linear",
        "plasticity.p": 45.0,
        "plasticity.criterion": "ema",
        "plasticity.optimizer_state": "reset",
        "train.lr": 8e-3,
    },
    {"seed": 0, "plasticity.schedule": "constant", "plasticity.p": 3.0, "plasticity.every_steps": 150},  # seed shared
]
CLOCKS = ("wall_time_s", "train_time_s")


class _Record:
    def __init__(self, fail_at: int | None = None):
        self.rows, self.fail_at = [], fail_at

    def report(self, step, metrics):
        if step == self.fail_at:
            raise RuntimeError(f"pruned at epoch {step}")
        self.rows.append((step, {k: v for k, v in metrics.items() if k not in CLOCKS}))


def _cfg(over: dict, base: dict = BASE) -> DendriticConfig:
    cfg = from_dict(DendriticConfig, base)
    for k, v in over.items():
        cfg = replace_path(cfg, k, v)
    return cfg


def _capture(monkeypatch, module) -> list:
    """Wrap ``module.finish`` to keep each run's final module state and per-round rewiring counts."""
    seen, inner = [], module.finish

    def finish(cfg, ctx, prep, history, t_start):
        plast = prep.plasticity
        rounds = (list(plast.round_steps), list(plast.round_moved)) if plast is not None else ([], [])
        seen.append((cfg, {k: v.detach().clone() for k, v in prep.model.state_dict().items()}, rounds))
        return inner(cfg, ctx, prep, history, t_start)

    monkeypatch.setattr(module, "finish", finish)
    return seen


def _ctx(tmp_path, name: str) -> RunContext:
    return RunContext(data_dir=MNIST_DIR, workdir=tmp_path / name)


def _references(cfgs, tmp_path, monkeypatch):
    seen = _capture(monkeypatch, reference)
    out = []
    for i, cfg in enumerate(cfgs):
        rec = _Record()
        res = get_experiment("dendritic").run(cfg, rec, _ctx(tmp_path, f"ref{i}"))
        out.append((res, rec.rows, seen[-1]))
    return out


def _same_result(ref, pop) -> None:
    assert not isinstance(pop, BaseException), repr(pop)
    timeless = [{k: v for k, v in r.metrics.items() if k not in CLOCKS} for r in (ref, pop)]
    assert timeless[0].keys() == timeless[1].keys()
    for k in timeless[0]:
        a, b = timeless[0][k], timeless[1][k]
        assert a == b or (math.isnan(a) and math.isnan(b)), (k, a, b)  # NaN (no synapse died yet)
    strip = [[{k: v for k, v in row.items() if k not in CLOCKS} for row in r.extra["history"]] for r in (ref, pop)]
    assert strip[0] == strip[1]


def _check_invariants(state: dict, cfg: DendriticConfig) -> None:
    idx = state["dendritic.idx"]
    m = cfg.model
    assert idx.shape == (m.n_somata * m.dendrites_per_soma, m.synapses_per_dendrite)
    assert int(idx.min()) >= 0 and int(idx.max()) < m.n_inputs
    s = idx.sort(1).values
    assert not (s[:, 1:] == s[:, :-1]).any(), "a dendrite holds the same input twice"


def _population(cfgs, recs, tmp_path, monkeypatch):
    seen = _capture(monkeypatch, population)
    results = run_dendritic_population(cfgs, recs, _ctx(tmp_path, "pop"))
    by_cfg = {id(c): (state, rounds) for c, state, rounds in seen}
    return results, by_cfg


def test_a_population_of_one_is_the_unbatched_run(tmp_path, monkeypatch):
    cfg = _cfg({"seed": 3, "plasticity.criterion": "ema"})
    ((ref, rows, (_c, ref_state, ref_rounds)),) = _references([cfg], tmp_path, monkeypatch)
    rec = _Record()
    (pop,), by_cfg = _population([cfg], [rec], tmp_path, monkeypatch)
    _same_result(ref, pop)
    assert rec.rows == rows
    state, rounds = by_cfg[id(cfg)]
    assert all(torch.equal(ref_state[k], state[k]) for k in ref_state)
    assert rounds == ref_rounds


def test_eight_mixed_members_train_exactly_as_alone(tmp_path, monkeypatch):
    cfgs = [_cfg(v) for v in MIXED]
    refs = _references(cfgs, tmp_path, monkeypatch)
    recs = [_Record() for _ in cfgs]
    results, by_cfg = _population(cfgs, recs, tmp_path, monkeypatch)
    assert len(results) == len(cfgs)
    for cfg, (ref, rows, (_c, ref_state, ref_rounds)), rec, pop in zip(cfgs, refs, recs, results):
        _same_result(ref, pop)
        assert rec.rows == rows  # the same epochs reported, same values, same order
        state, rounds = by_cfg[id(cfg)]
        for k in ref_state:  # weights, biases, synapse tables (the masks), centres: bitwise
            assert torch.equal(ref_state[k], state[k]), (cfg.seed, k)
        assert rounds == ref_rounds  # same rounds at the same steps, same synapses moved in each
        _check_invariants(state, cfg)
        if cfg.plasticity.enabled:
            assert len(rounds[0]) > 0 and pop.metrics["synapses_moved"] == sum(rounds[1]) > 0
    assert results[5].metrics["epochs"] == 2.0, "a member with fewer epochs finishes early"


@pytest.mark.parametrize(
    "opt",
    [
        {"train.optimizer": "sgd", "train.lr": 0.05, "train.weight_decay": 1e-4},
        {"train.optimizer": "adamw", "train.weight_decay": 1e-2},
    ],
)
def test_sgd_with_momentum_and_adamw_members_train_exactly_as_alone(tmp_path, monkeypatch, opt):
    short = {**BASE, "train": {**BASE["train"], "epochs": 1}}
    cfgs = [_cfg({**opt, **v}, short) for v in (MIXED[0], MIXED[2], {"seed": 9, "train.weight_decay": 0.0})]
    refs = _references(cfgs, tmp_path, monkeypatch)
    results, by_cfg = _population(cfgs, [NullReporter()] * 3, tmp_path, monkeypatch)
    for cfg, (ref, _rows, (_c, ref_state, _r)), pop in zip(cfgs, refs, results):
        _same_result(ref, pop)
        assert all(torch.equal(ref_state[k], by_cfg[id(cfg)][0][k]) for k in ref_state)


# The knobs of the second night, each member its own: lr schedules, stop rewiring early, the init
# fan-in, weight decay with optimizer-state reset, activations; members 0, 1 and 5 share a seed.
NEW_KNOBS = [
    {"seed": 0, "train.lr_schedule": "cosine", "train.lr": 0.02},
    {"seed": 0, "train.lr_schedule": "step", "plasticity.stop_after": 0.5},
    {"seed": 1, "model.init_fan_in": "inputs", "train.weight_decay": 1e-4, "plasticity.optimizer_state": "reset"},
    {"seed": 2, "train.lr_schedule": "cosine", "plasticity.stop_after": 0.2, "plasticity.new_weight_init": "he"},
    {"seed": 1},  # a constant rate beside scheduled ones
    {"seed": 0, "model.dendrite_activation": "leaky_relu"},  # activations are a member's own too
    {"seed": 2, "model.dendrite_activation": "leaky_relu", "model.soma_activation": "tanh"},
]


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adamw"])
def test_lr_schedules_stop_after_and_init_fan_in_train_exactly_as_alone(tmp_path, monkeypatch, optimizer):
    short = {**BASE, "train": {**BASE["train"], "epochs": 2, "optimizer": optimizer}}
    cfgs = [_cfg(v, short) for v in NEW_KNOBS]
    refs = _references(cfgs, tmp_path, monkeypatch)
    recs = [_Record() for _ in cfgs]
    results, by_cfg = _population(cfgs, recs, tmp_path, monkeypatch)
    for cfg, (ref, rows, (_c, ref_state, ref_rounds)), rec, pop in zip(cfgs, refs, recs, results):
        _same_result(ref, pop)
        assert rec.rows == rows
        state, rounds = by_cfg[id(cfg)]
        assert all(torch.equal(ref_state[k], state[k]) for k in ref_state), cfg
        assert rounds == ref_rounds
    # stop_after really stops: no round after that fraction of the 200 steps
    stop = by_cfg[id(cfgs[3])][1][0]
    assert stop and max(stop) <= 0.2 * 200 < max(by_cfg[id(cfgs[4])][1][0])


def test_several_dendrites_per_soma_and_other_activations_train_exactly_as_alone(tmp_path, monkeypatch):
    net = {
        "model.n_somata": 24,
        "model.dendrites_per_soma": 4,
        "model.synapses_per_dendrite": 12,
        "model.dendrite_activation": "leaky_relu",
        "model.soma_activation": "tanh",
    }
    short = {**BASE, "train": {**BASE["train"], "epochs": 1}}
    cfgs = [_cfg({**net, **v}, short) for v in MIXED[:3]]
    refs = _references(cfgs, tmp_path, monkeypatch)
    results, by_cfg = _population(cfgs, [NullReporter()] * 3, tmp_path, monkeypatch)
    for cfg, (ref, _rows, (_c, ref_state, _r)), pop in zip(cfgs, refs, results):
        _same_result(ref, pop)
        assert all(torch.equal(ref_state[k], by_cfg[id(cfg)][0][k]) for k in ref_state)
        _check_invariants(by_cfg[id(cfg)][0], cfg)


def test_members_that_are_pruned_diverge_or_raise_leave_and_the_others_are_unchanged(tmp_path, monkeypatch):
    short = {**BASE, "train": {**BASE["train"], "epochs": 2}}
    cfgs = [_cfg(v, short) for v in (MIXED[0], MIXED[1], {"seed": 7, "train.lr": 1e30}, MIXED[2], MIXED[4])]
    with pytest.raises(Diverged) as ref_err:
        get_experiment("dendritic").run(cfgs[2], NullReporter(), _ctx(tmp_path, "diverged"))
    refs = _references([cfgs[i] for i in (0, 4)], tmp_path, monkeypatch)
    # member 3 breaks a rewiring invariant in its first round: its growth rule returns connected inputs
    from core.plasticity import Plasticity

    real_init = Plasticity.__init__

    def init(self, layer, optimizer, pc, **kw):
        real_init(self, layer, optimizer, pc, **kw)
        if pc.criterion == "stochastic":
            self.grow = lambda layer, k, gen: layer.idx[:, :k].clone()

    monkeypatch.setattr(Plasticity, "__init__", init)
    recs = [_Record(fail_at=2 if i == 1 else None) for i in range(len(cfgs))]
    results = run_dendritic_population(cfgs, recs, _ctx(tmp_path, "pop"))
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "pruned at epoch 2"
    assert [step for step, _m in recs[1].rows] == [1], "it reported epoch 1, then was pruned at epoch 2"
    assert isinstance(results[2], Diverged) and str(results[2]) == str(ref_err.value)
    assert isinstance(results[3], RewireError) and recs[3].rows == []
    for (ref, rows, _s), i in zip(refs, (0, 4)):
        _same_result(ref, results[i])
        assert recs[i].rows == rows
