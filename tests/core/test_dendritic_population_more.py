"""The batched dendritic population, continued: what may share a batch, baselines without a batched
form, threads, CUDA, seed replicates and the benchmark (helpers: tests/core/test_dendritic_population.py)."""

from __future__ import annotations

import pytest
import torch

import core.experiments.dendritic_population as population
from core import get_experiment
from core.config import replace_path
from core.contract import NullReporter, RunContext
from core.experiments.dendritic import DendriticConfig
from core.experiments.dendritic_population import dendritic_population_key, run_dendritic_population
from tests.core.test_dendritic_population import (
    BASE,
    MIXED,
    _cfg,
    _ctx,
    _population,
    _Record,
    _references,
    _same_result,
)
from tests.helpers import MNIST_DIR

pytestmark = pytest.mark.usefixtures("mnist_dir", "one_thread")


def test_population_key_groups_what_can_share_a_batch_and_separates_the_rest(tmp_path):
    base = DendriticConfig()
    key = dendritic_population_key(base)
    same = {
        "seed": 7,
        "train.lr": 1e-3,
        "train.weight_decay": 1e-4,
        "train.epochs": 5,
        "train.momentum": 0.5,
        "model.input_sampling": "lrf",
        "model.lrf_sigma": 2.0,
        "plasticity.p": 5.0,
        "plasticity.schedule": "root",
        "plasticity.every_steps": 10,
        "plasticity.interval_growth": 1.0,
        "plasticity.criterion": "ema",
        "plasticity.growth": "lrf",
        "plasticity.new_weight_init": "he",
        "plasticity.optimizer_state": "reset",
        "plasticity.cooldown_batches": 50,
        "plasticity.enabled": False,
        "plots": False,
        "model.dendrite_activation": "tanh",  # each member applies its own activations
        "model.soma_activation": "leaky_relu",
    }
    for path, value in same.items():
        assert dendritic_population_key(replace_path(base, path, value)) == key, path
    differ = {
        "model.n_somata": 64,
        "model.dendrites_per_soma": 2,
        "model.synapses_per_dendrite": 8,
        "model.architecture": "dense",
        "train.batch_size": 64,
        "train.optimizer": "sgd",
        "train.train_subset": 100,
        "train.test_subset": 100,
        "train.input_scaling": "unit",
    }
    for path, value in differ.items():
        assert dendritic_population_key(replace_path(base, path, value)) != key, path
    sgd = replace_path(base, "train.optimizer", "sgd")
    assert dendritic_population_key(sgd) != dendritic_population_key(replace_path(sgd, "train.momentum", 0.5))
    with pytest.raises(ValueError, match="dendritic_population_key"):
        run_dendritic_population([base, replace_path(base, "train.batch_size", 32)], [NullReporter()] * 2, RunContext())


def test_dense_baselines_run_one_at_a_time_with_their_own_outcomes(tmp_path):
    short = {**BASE, "train": {**BASE["train"], "epochs": 1, "train_subset": 640}, "model": {"architecture": "dense"}}
    cfgs = [_cfg({"seed": s}, short) for s in (0, 1)]
    alone = get_experiment("dendritic").run(cfgs[1], NullReporter(), _ctx(tmp_path, "ref"))
    results = run_dendritic_population(cfgs, [NullReporter(), _Record(fail_at=1)], _ctx(tmp_path, "pop"))
    assert isinstance(results[1], RuntimeError)
    _same_result(get_experiment("dendritic").run(cfgs[0], NullReporter(), _ctx(tmp_path, "r0")), results[0])
    assert alone.metrics["n_params_total"] == results[0].metrics["n_params_total"]


def test_two_threads_give_the_same_members_as_two_threads_alone(tmp_path, monkeypatch):
    torch.set_num_threads(2)  # the one_thread fixture restores the count afterwards
    short = {**BASE, "train": {**BASE["train"], "epochs": 1}}
    cfgs = [_cfg(v, short) for v in MIXED[:3]]
    refs = _references(cfgs, tmp_path, monkeypatch)
    results, by_cfg = _population(cfgs, [NullReporter()] * 3, tmp_path, monkeypatch)
    for cfg, (ref, _rows, (_c, ref_state, _r)), pop in zip(cfgs, refs, results):
        _same_result(ref, pop)
        assert all(torch.equal(ref_state[k], by_cfg[id(cfg)][0][k]) for k in ref_state)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_population_runs_on_cuda(tmp_path):
    # No bitwise promise on GPU (cuBLAS, atomics in embedding_bag's backward): every member gets
    # a Result with the reference's keys, and learns.
    short = {**BASE, "train": {**BASE["train"], "epochs": 2}}
    cfgs = [_cfg(v, short) for v in MIXED]
    ctx = RunContext(device="cuda", data_dir=MNIST_DIR, workdir=tmp_path)
    ref = get_experiment("dendritic").run(cfgs[0], NullReporter(), ctx)
    results = run_dendritic_population(cfgs, [_Record() for _ in cfgs], ctx)
    for res in results:
        assert not isinstance(res, BaseException), repr(res)
        assert set(res.metrics) == set(ref.metrics) and res.metrics["test_acc"] > 0.6
    # Member 0 against its run alone on the same GPU: the counts are exact (rounds come from the
    # schedule, a round moves p % of each dendrite's synapses), accuracies within GPU rounding.
    for key in ("rounds", "synapses_moved", "steps", "n_params"):
        assert results[0].metrics[key] == ref.metrics[key], key
    assert abs(results[0].metrics["test_acc"] - ref.metrics["test_acc"]) < 0.02
    assert abs(results[0].metrics["val_acc"] - ref.metrics["val_acc"]) < 0.02


def test_seed_replicates_train_as_one_population_equal_to_each_seed_alone(tmp_path, monkeypatch):
    from core.replicates import run_replicates

    calls, real_cls = [], population.Population

    def counting(cfgs, reporters, ctx):
        calls.append(len(cfgs))
        return real_cls(cfgs, reporters, ctx)

    monkeypatch.setattr(population, "Population", counting)
    short = {**BASE, "train": {**BASE["train"], "epochs": 1}}
    cfg = _cfg(MIXED[1], short)
    results = run_replicates("dendritic", cfg, [11, 12, 13], _ctx(tmp_path, "rep"))
    assert calls == [3], "the three seeds trained as one population"
    for seed, res in zip((11, 12, 13), results):
        alone = get_experiment("dendritic").run(replace_path(cfg, "seed", seed), NullReporter(), _ctx(tmp_path, "a"))
        _same_result(alone, res)


@pytest.mark.slow
def test_the_benchmark_prints_a_row_per_population_with_identical_members():
    import subprocess
    import sys

    from tests.helpers import ROOT

    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_dendritic_population.py"),
            "--sizes",
            "1,2",
            "--seq-trials",
            "2",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--seeds",
            "1",
            "--data-dir",
            str(MNIST_DIR),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [
        [c.strip() for c in line.strip("|").split("|")] for line in proc.stdout.splitlines() if line.startswith("| cpu")
    ]
    assert [(r[1], r[2]) for r in rows] == [("sequential `run`", "1"), ("population", "1"), ("population", "2")]
    assert [r[9] for r in rows[1:]] == ["1 of 1", "2 of 2"]


def test_replicates_of_a_kind_without_a_population_run_one_by_one(tmp_path):
    from core.replicates import run_replicates

    cfg = get_experiment("synthetic").default_config()
    results = run_replicates("synthetic", replace_path(cfg, "step_seconds", 0.0), [1, 2], RunContext(workdir=tmp_path))
    assert [type(r).__name__ for r in results] == ["Result", "Result"]
