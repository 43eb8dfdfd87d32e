"""``imp`` chooses on validation rows, never on test rows, and its data do not depend on ``seed``.

* Scrambling the test labels changes every ``test_`` figure and nothing else: the objective
  (``val_split_min_task_acc``), ``still_ticket``, ``split_ticket``, ``split_level``, every
  ``val_`` metric and the masks are bitwise the same (alone and as a population).
* ``split_ticket`` is 1 exactly when some level is split and a ticket on validation.
* Configs that differ only in ``seed`` see the same rows (toy and MNIST tasks), train as one
  population sharing one copy of the data, and ``data.seed`` alone changes the rows.
"""

from __future__ import annotations

import pytest
import torch

from core import get_experiment
from core.analysis.level import split_summary
from core.config import from_dict, replace_path
from core.contract import NullReporter, RunContext
from core.data.tasks import Split, SplitData
from core.experiments import imp as imp_mod
from core.experiments import imp_population as pop_mod
from core.experiments.imp import build_data
from core.experiments.imp_population import imp_population_key, run_imp_population_experiment
from core.lottery.config import ImpConfig
from core.lottery.imp_batched import stack_rows
from core.replicates import run_replicates

pytestmark = pytest.mark.usefixtures("one_thread")

# Splits at level 5 while still a ticket (seed 1) / never splits (seed 0), in about a second each.
DOC = {
    "data": {"n_samples": 400},
    "model": {"widths": [16, 16]},
    "train": {"max_epochs": 30, "patience": 5},
    "imp": {"levels": 5, "target_params": 20},
    "analysis": {"plots": False, "trajectories": False},
    "checkpoint": False,
}
DECISIONS = ("val_split_min_task_acc", "still_ticket", "split_ticket", "split_level", "split_params")


def _cfg(**over) -> ImpConfig:
    cfg = from_dict(ImpConfig, DOC)
    for k, v in over.items():
        cfg = replace_path(cfg, k, v)
    return cfg


def scrambled(real):
    """``build_data`` with every task's test labels permuted (its own generator per task)."""

    def build(cfg, ctx):
        d = real(cfg, ctx)
        gen = torch.Generator().manual_seed(12345)
        y = torch.stack([col[torch.randperm(len(col), generator=gen)] for col in d.test.y.T], 1)
        assert not torch.equal(y, d.test.y)
        return SplitData(d.train, d.val, Split(d.test.x, y), d.layout)

    return build


def _row_free(metrics):
    """Every metric whose value cannot depend on the test rows."""
    return {k: v for k, v in metrics.items() if not k.startswith("test_") and k != "wall_time_s"}


def _assert_blind_to_test(clean, dirty) -> None:
    assert _row_free(clean.metrics) == _row_free(dirty.metrics)
    assert [_row_free(h) for h in clean.extra["history"]] == [_row_free(h) for h in dirty.extra["history"]]
    for k in DECISIONS:
        assert k in clean.metrics and clean.metrics[k] == dirty.metrics[k], k


def test_objective_and_ticket_decisions_ignore_scrambled_test_labels(monkeypatch):
    cfg = _cfg(seed=1)
    clean = get_experiment("imp").run(cfg, NullReporter(), RunContext())
    assert clean.metrics["split_level"] == 5.0 and clean.metrics["val_split_min_task_acc"] > 0.5  # a real split
    monkeypatch.setattr(imp_mod, "build_data", scrambled(imp_mod.build_data))
    dirty = get_experiment("imp").run(cfg, NullReporter(), RunContext())
    _assert_blind_to_test(clean, dirty)
    # ... and the scrambling reached the run: the test twins moved
    assert dirty.metrics["test_split_min_task_acc"] != clean.metrics["test_split_min_task_acc"]
    assert dirty.metrics["test_dense_acc"] < 0.8 < clean.metrics["test_dense_acc"]


def test_the_population_is_blind_to_test_labels_too(monkeypatch):
    cfgs = [_cfg(seed=1), _cfg(seed=0)]
    clean = run_imp_population_experiment(cfgs, [NullReporter()] * 2, RunContext())
    monkeypatch.setattr(pop_mod, "build_data", scrambled(pop_mod.build_data))
    dirty = run_imp_population_experiment(cfgs, [NullReporter()] * 2, RunContext())
    for c, d in zip(clean, dirty):
        _assert_blind_to_test(c, d)
        assert c.metrics["test_dense_acc"] != d.metrics["test_dense_acc"]


def _h(level, split, val_acc, test_acc=1.0):
    return {
        "level": float(level),
        "split": float(split),
        "prunable": 100.0 - 10 * level,
        "prunable_total": 100.0,
        "val_acc": val_acc,
        "val_min_task_acc": val_acc,
        "val_task0_acc": val_acc,
        "val_task1_acc": val_acc,
        "test_acc": test_acc,
        "test_min_task_acc": test_acc,
        "test_task0_acc": test_acc,
        "test_task1_acc": test_acc,
    }


@pytest.mark.parametrize(
    "levels, split_level, still, split_ticket",
    [
        ([(0, 0.90), (0, 0.90), (0, 0.80)], -1.0, 0.0, 0.0),  # never splits: censored, -1
        ([(0, 0.90), (0, 0.80), (1, 0.89)], 2.0, 1.0, 1.0),  # splits as a ticket (within 0.02)
        ([(0, 0.90), (1, 0.87), (1, 0.80)], 1.0, 0.0, 0.0),  # splits, no longer a ticket
        ([(0, 0.90), (1, 0.85), (1, 0.90)], 1.0, 0.0, 1.0),  # first split not a ticket, a later one is
        ([(0, 0.90), (0, 0.95), (1, 0.70)], 2.0, 0.0, 0.0),  # a ticket, then a split that is not: no
    ],
)
def test_split_ticket_is_one_exactly_when_split_and_ticket_at_the_same_level(levels, split_level, still, split_ticket):
    history = [_h(i, s, a, test_acc=0.5) for i, (s, a) in enumerate(levels)]
    out = split_summary(history, k=2, tolerance=0.02)
    assert (out["split_level"], out["still_ticket"], out["split_ticket"]) == (split_level, still, split_ticket)
    assert out["val_dense_acc"] == 0.90 and out["test_dense_acc"] == 0.5
    # the same decisions on the test rows (all 0.5 here: every split level is a test ticket)
    assert out["test_split_ticket"] == float(split_level >= 0)
    assert out["val_split_min_task_acc"] == (levels[int(split_level)][1] if split_level >= 0 else 0.0)


def test_seed_changes_init_not_data_and_data_seed_changes_the_rows():
    a, b = build_data(_cfg(seed=0), RunContext()), build_data(_cfg(seed=7), RunContext())
    c = build_data(_cfg(seed=0, **{"data.seed": 1}), RunContext())
    for part in ("train", "val", "test"):
        sa, sb, sc = getattr(a, part), getattr(b, part), getattr(c, part)
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y), part
        assert not torch.equal(sa.x, sc.x), part
    assert imp_population_key(_cfg(seed=0)) == imp_population_key(_cfg(seed=7))


def test_mnist_rows_do_not_depend_on_seed(mnist_dir):
    over = {
        "data.task": "mnist_pairs",
        "data.digits": (3, 8),
        "data.mnist_dir": str(mnist_dir),
        "data.mnist_val": 2000,
        "imp.target_params": 100,
    }
    a, b = (build_data(_cfg(seed=s, **over), RunContext()) for s in (0, 3))
    c = build_data(_cfg(seed=0, **{**over, "data.seed": 2}), RunContext())
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(a, part).y, getattr(b, part).y), part
        assert torch.equal(getattr(a, part).x, getattr(b, part).x), part
    assert not torch.equal(a.val.y, c.val.y)
    # MNIST members share one copy, so only the data section may differ, never the seed
    assert imp_population_key(_cfg(seed=0, **over)) == imp_population_key(_cfg(seed=3, **over))
    assert imp_population_key(_cfg(seed=0, **over)) != imp_population_key(_cfg(seed=0, **{**over, "data.seed": 2}))


def test_seed_replicates_train_as_one_population_on_one_copy_equal_to_each_seed_alone(monkeypatch):
    built, stacked = [], []
    real_build = pop_mod.build_data
    monkeypatch.setattr(pop_mod, "build_data", lambda cfg, ctx: built.append(cfg.seed) or real_build(cfg, ctx))
    from core.lottery import imp_batched

    def spy(tensors):
        stacked.append(all(t is tensors[0] for t in tensors))
        return stack_rows(tensors)

    monkeypatch.setattr(imp_batched, "stack_rows", spy)
    cfg = _cfg(**{"imp.levels": 2})
    results = run_replicates("imp", cfg, [1, 2, 3], RunContext())
    assert len(built) == 1 and stacked and all(stacked), "one copy of the data for the three seeds"
    for seed, res in zip((1, 2, 3), results):
        alone = get_experiment("imp").run(replace_path(cfg, "seed", seed), NullReporter(), RunContext())
        assert {k: v for k, v in res.metrics.items() if k != "wall_time_s"} == {
            k: v for k, v in alone.metrics.items() if k != "wall_time_s"
        }
        assert res.extra["history"] == alone.extra["history"]
