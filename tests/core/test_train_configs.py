"""The core's one entry that trains a list of configurations (core.replicates.train_configs)."""

from __future__ import annotations

import dataclasses

from core import get_experiment
from core.contract import Result, RunContext
from core.replicates import run_replicates, train_configs

SYN = get_experiment("synthetic")


def _cfg(**over):
    return dataclasses.replace(SYN.default_config(), **over)


def _recording(exp, runs: list, batches: list):
    """``exp`` whose run writes a file into its work directory, with a batched form that records its groups."""

    def run(config, reporter, ctx):
        runs.append(ctx.workdir)
        return exp.run(config, reporter, ctx)

    def run_population(configs, reporters, ctx):
        batches.append([c.x for c in configs])
        if any(c.fail == "raise" for c in configs):
            raise RuntimeError("the batched run broke")
        return [exp.run(c, r, ctx) for c, r in zip(configs, reporters)]

    return dataclasses.replace(exp, run=run, run_population=run_population, population_key=lambda c: c.y)


def test_one_configuration_runs_alone_in_the_work_directory_itself(tmp_path):
    runs, batches = [], []
    exp = _recording(SYN, runs, batches)
    (out,) = train_configs(exp, [_cfg(x=1.0)], None, RunContext(workdir=tmp_path))
    assert isinstance(out, Result) and runs == [tmp_path] and batches == []  # resumable where it is
    (again,) = train_configs(exp, [_cfg(x=1.0)], None, RunContext(workdir=tmp_path), batched=True)
    assert batches == [[1.0]] and again.metrics == out.metrics  # a population round's lone member


def test_several_are_grouped_by_population_key_and_keep_their_order(tmp_path):
    runs, batches = [], []
    exp = _recording(SYN, runs, batches)
    cfgs = [_cfg(x=1.0), _cfg(x=2.0, y=1.0), _cfg(x=3.0), _cfg(x=0.5, y=2.0, fail="raise"), _cfg(x=1.5, y=2.0)]
    out = train_configs(exp, cfgs, None, RunContext(workdir=tmp_path))
    assert batches == [[1.0, 3.0], [2.0], [0.5, 1.5]] and runs == []  # one batched run per key
    assert all(isinstance(o, Result) for o in out[:3])
    alone = [train_configs(SYN, [c], None, RunContext())[0].metrics["loss"] for c in cfgs[:3]]
    assert [o.metrics["loss"] for o in out[:3]] == alone  # each in its own place
    assert out[3] is out[4] and isinstance(out[3], RuntimeError)  # a broken batch: each member, one exception


def test_a_kind_without_a_batched_form_runs_them_one_after_another_in_run_dirs(tmp_path):
    runs: list = []
    exp = dataclasses.replace(SYN, run=lambda c, r, ctx: runs.append(ctx.workdir) or SYN.run(c, r, ctx))
    out = train_configs(exp, [_cfg(x=1.0), _cfg(x=2.0)], None, RunContext(workdir=tmp_path))
    assert runs == [tmp_path / "run_000", tmp_path / "run_001"] and all(isinstance(o, Result) for o in out)


def test_replicates_are_one_configuration_per_seed():
    out = run_replicates("synthetic", _cfg(noise=0.1), [3, 4], RunContext())
    assert [o.metrics["loss"] for o in out] == [
        train_configs(SYN, [_cfg(noise=0.1, seed=s)], None, RunContext())[0].metrics["loss"] for s in (3, 4)
    ]
    assert out[0].metrics["loss"] != out[1].metrics["loss"]
