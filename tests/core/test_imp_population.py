"""The batched IMP population against the unbatched reference, member by member.

On CPU the population must give every member bitwise the result of ``run_imp_experiment``
alone (a run alone computes through the population's kernels with a population of one, so this
holds on Intel and AMD processors alike): masks and trained weights at every level, every per-level metric and every final
metric (except ``wall_time_s``). A member whose reporter raises or that diverges leaves;
the others are unchanged. ``imp_population_key`` separates configs that cannot share a batch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import get_experiment
from core.config import from_dict, replace_path
from core.contract import NullReporter, RunContext
from core.errors import Diverged
from core.experiments.imp import build_data, build_model
from core.experiments.imp_population import imp_population_key, run_imp_population_experiment
from core.lottery.config import ImpConfig
from core.lottery.imp import run_imp
from core.lottery.imp_batched import Member, run_imp_population

VARIANTS = [
    {"seed": 0},
    {"seed": 1, "train.lr": 3e-3, "data.noise": 0.2},
    {"seed": 2, "imp.target_params": 25, "train.patience": 2, "analysis.trajectories": True},
    {"seed": 3, "imp.schedule": "fraction", "imp.scope": "layer", "train.weight_decay": 1e-3, "data.seed": 3},
    {"seed": 4, "imp.rewind_step": 5, "imp.prune_bias": True, "train.min_delta": 1e-3},
    {"seed": 5, "imp.levels": 2, "imp.stop_at_split": True, "imp.target_params": 60},
]


pytestmark = pytest.mark.usefixtures("one_thread")


class _Record:
    def __init__(self, fail_at: int | None = None):
        self.rows, self.fail_at = [], fail_at

    def report(self, step, metrics):
        if step == self.fail_at:
            raise RuntimeError(f"pruned at level {step}")
        self.rows.append((step, dict(metrics)))


def _cfg(over: dict, **base) -> ImpConfig:
    doc = {
        "data": {"n_samples": 240},
        "train": {"max_epochs": 12, "patience": 3},
        "imp": {"levels": 3},
        "analysis": {"plots": False, "trajectories": False},
        "checkpoint": False,
    }
    cfg = from_dict(ImpConfig, doc)
    for k, v in {**base, **over}.items():
        cfg = replace_path(cfg, k, v)
    return cfg


def _same_result(ref, pop) -> None:
    assert not isinstance(pop, BaseException), pop
    assert set(ref.metrics) == set(pop.metrics)
    timeless = [{k: v for k, v in r.metrics.items() if k != "wall_time_s"} for r in (ref, pop)]
    assert timeless[0] == timeless[1]
    assert ref.extra["history"] == pop.extra["history"]
    assert ref.extra["config_hash"] == pop.extra["config_hash"]
    assert set(ref.artifacts) == set(pop.artifacts)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Unbatched runs of every variant: (config, Result, reported rows). Runs on one thread and
    gives the previous thread count back when the module is done."""
    threads = torch.get_num_threads()
    out = []
    try:
        for i, over in enumerate(VARIANTS):
            cfg, rec = _cfg(over), _Record()
            torch.set_num_threads(1)
            r = get_experiment("imp").run(cfg, rec, RunContext(workdir=tmp_path_factory.mktemp(f"ref{i}")))
            out.append((cfg, r, rec.rows))
        yield out
    finally:
        torch.set_num_threads(threads)


def test_population_matches_every_unbatched_run_exactly(references, tmp_path):
    recs = [_Record() for _ in references]
    cfgs = [c for c, _r, _rows in references]
    results = get_experiment("imp").run_population(cfgs, recs, RunContext(workdir=tmp_path))
    assert len(results) == len(references)
    for (_cfg, ref, rows), rec, pop in zip(references, recs, results):
        _same_result(ref, pop)
        assert rec.rows == rows  # same levels reported, same values, same order
    # trajectories are written per member and equal the reference's
    i = next(j for j, v in enumerate(VARIANTS) if v.get("analysis.trajectories"))
    got = np.load(results[i].artifacts["trajectories"])["values"]
    want = np.load(references[i][1].artifacts["trajectories"])["values"]
    assert results[i].artifacts["trajectories"].parent == tmp_path / f"member_{i:03d}"
    np.testing.assert_array_equal(got, want)


def _members(cfgs):
    ctx = RunContext()
    out = []
    for c in cfgs:
        data = build_data(c, ctx)
        out.append(Member(build_model(c, data), data, c.train, c.imp, c.seed, c.model.activation))
    return out


@pytest.mark.parametrize("mode", ["bmm", "vmap"])
@pytest.mark.parametrize(
    "net",
    [
        {},
        {
            "model.activation": "tanh",
            "train.optimizer": "sgd",
            "train.lr": 0.1,
            "model.widths": (12, 8, 6),
            "imp.target_params": 30,
        },
    ],
)
def test_masks_and_weights_are_identical_at_every_level(net, mode):
    cfgs = [_cfg(v, **net) for v in VARIANTS[:4]]
    members = _members(cfgs)
    errors = run_imp_population(members, lambda i, level, model, stats: {"split": 0.0}, mode=mode)
    assert errors == [None] * len(cfgs)
    for c, m, mine in zip(cfgs, _members(cfgs), members):
        ref = run_imp(m.model, m.data, c.train, c.imp, c.seed, lambda level, model, stats: {"split": 0.0})
        got = mine.levels
        assert [lv.level for lv in got] == [lv.level for lv in ref]
        for a, b in zip(ref, got):
            for name in a.masks:
                assert torch.equal(a.masks[name], b.masks[name]), (c.seed, a.level, name)
                assert torch.equal(a.trained[name], b.trained[name]), (c.seed, a.level, name)


def test_a_member_whose_reporter_raises_leaves_and_the_others_are_unchanged(references, tmp_path):
    cfgs = [c for c, _r, _rows in references]
    recs = [_Record(fail_at=1 if i == 1 else None) for i in range(len(cfgs))]
    results = run_imp_population_experiment(cfgs, recs, RunContext(workdir=tmp_path))
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "pruned at level 1"
    assert recs[1].rows == references[1][2][:1]  # it reported level 0, then raised at level 1
    for i, ((_c, ref, rows), rec, pop) in enumerate(zip(references, recs, results)):
        if i != 1:
            _same_result(ref, pop)
            assert rec.rows == rows


def test_a_diverging_member_gets_diverged_in_its_slot(tmp_path):
    sgd = {"train.optimizer": "sgd", "imp.levels": 1}
    cfgs = [_cfg({"seed": s, "train.lr": lr}, **sgd) for s, lr in ((0, 0.1), (1, 1e3), (2, 0.05))]
    with pytest.raises(Diverged) as ref_err:
        get_experiment("imp").run(cfgs[1], NullReporter(), RunContext(workdir=tmp_path / "ref"))
    results = run_imp_population_experiment(cfgs, [NullReporter()] * 3, RunContext(workdir=tmp_path))
    assert isinstance(results[1], Diverged) and str(results[1]) == str(ref_err.value)
    for i in (0, 2):
        ref = get_experiment("imp").run(cfgs[i], NullReporter(), RunContext(workdir=tmp_path / f"r{i}"))
        _same_result(ref, results[i])


def test_population_key_groups_what_can_share_a_batch_and_separates_the_rest():
    base = ImpConfig()
    key = imp_population_key(base)
    same = {
        "seed": 7,
        "train.lr": 3e-3,
        "train.weight_decay": 1e-4,
        "train.patience": 2,
        "train.min_delta": 0.01,
        "imp.target_params": 20,
        "imp.levels": 8,
        "imp.schedule": "fraction",
        "imp.scope": "layer",
        "imp.prune_bias": True,
        "imp.rewind_step": 3,
        "imp.stop_at_split": True,
        "data.noise": 0.0,
        "data.seed": 5,
        "analysis.plots": False,
    }
    for path, value in same.items():
        assert imp_population_key(replace_path(base, path, value)) == key, path
    differ = {
        "model.widths": (16, 8),
        "model.activation": "tanh",
        "train.optimizer": "sgd",
        "train.batch_size": 32,
        "train.max_epochs": 50,
        "train.max_steps": 100,
        "data.n_samples": 500,
        "data.k": 3,
        "data.task": "circles",
        "data.val_frac": 0.3,
    }
    for path, value in differ.items():
        assert imp_population_key(replace_path(base, path, value)) != key, path
    mnist = replace_path(replace_path(base, "data.task", "mnist_pairs"), "imp.target_params", 100)
    # MNIST members share one copy of the data, which depends on data.seed, never on seed
    assert imp_population_key(mnist) == imp_population_key(replace_path(mnist, "seed", 1))
    assert imp_population_key(mnist) != imp_population_key(replace_path(mnist, "data.seed", 1))
    with pytest.raises(ValueError, match="imp_population_key"):
        mixed = [base, replace_path(base, "train.batch_size", 32)]
        run_imp_population_experiment(mixed, [NullReporter()] * 2, RunContext())


def test_shared_data_and_per_batch_gathering_give_the_same_runs(references, tmp_path, monkeypatch):
    # Same seed: the members share one copy of the data (a stride-0 view, as MNIST members do);
    # a zero budget makes every epoch gather its minibatches one by one (the large-data path).
    from core.lottery import imp_batched

    monkeypatch.setattr(imp_batched, "_EPOCH_GATHER_BYTES", 0)
    cfgs = [references[0][0], _cfg({"seed": 0, "train.lr": 3e-3, "train.patience": 2})]
    results = run_imp_population_experiment(cfgs, [NullReporter()] * 2, RunContext(workdir=tmp_path))
    _same_result(references[0][1], results[0])
    ref = get_experiment("imp").run(cfgs[1], NullReporter(), RunContext(workdir=tmp_path / "ref"))
    _same_result(ref, results[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_population_runs_on_cuda(references, tmp_path):
    # On GPU torch.optim's foreach Adam and cuBLAS round differently from the CPU reference,
    # so no bitwise check: the contract, and each member against its own run alone on the GPU.
    cfgs = [c for c, _r, _rows in references]
    ctx = RunContext(device="cuda", workdir=tmp_path)
    results = run_imp_population_experiment(cfgs, [_Record() for _ in cfgs], ctx)
    alone = [
        get_experiment("imp").run(c, NullReporter(), RunContext(device="cuda", workdir=tmp_path / f"a{i}"))
        for i, c in enumerate(cfgs)
    ]
    for (c, ref, _rows), res, mine in zip(references, results, alone):
        assert not isinstance(res, BaseException), res
        assert set(res.metrics) == set(ref.metrics)
        # against the same run alone on the GPU: without stop_at_split the pruning plan fixes the
        # levels and counts exactly; accuracies within GPU rounding (a level may stop at another epoch)
        if not c.imp.stop_at_split:
            for key in ("prunable", "levels_done", "n_params"):
                assert res.metrics[key] == mine.metrics[key], key
        assert abs(res.metrics["val_acc"] - mine.metrics["val_acc"]) < 0.05
