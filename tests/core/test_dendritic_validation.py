"""``dendritic`` validates on images held out of the training set and never learns from the test set.

The data section (``data.val_size``, ``data.seed``) fixes which training images validate,
independently of the run's seed and of ``train.train_subset``; every epoch reports
``val_loss``/``val_acc``; a run with scrambled TEST labels reports bitwise the same
training and validation figures, alone and in a population.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import core.experiments.dendritic as dendritic
from core.config import from_dict, replace_path
from core.contract import RunContext
from core.data.mnist import load_mnist, stratified_split
from core.errors import ConfigError
from core.experiments.dendritic import DendriticConfig, load_data
from core.experiments.dendritic_population import dendritic_population_key, run_dendritic_population
from tests.helpers import MNIST_DIR

TINY = {
    "model": {"n_somata": 32},
    "plasticity": {"every_steps": 5},
    "plots": False,
    "train": {"epochs": 2, "train_subset": 2000, "test_subset": 500, "batch_size": 50, "lr": 1e-2},
}


class _Rows:
    def __init__(self):
        self.rows = []

    def report(self, step, metrics):
        self.rows.append((step, dict(metrics)))


def _cfg(base: dict = TINY, **over) -> DendriticConfig:
    cfg = from_dict(DendriticConfig, base)
    for k, v in over.items():
        cfg = replace_path(cfg, k.replace("__", "."), v)
    return cfg


def _ctx(tmp_path) -> RunContext:
    return RunContext(data_dir=MNIST_DIR, workdir=tmp_path, threads=1)


def test_defaults_hold_out_ten_thousand_images():
    cfg = DendriticConfig()
    assert (cfg.data.val_size, cfg.data.seed) == (10000, 0)


@pytest.mark.parametrize(
    ("doc", "path", "text"),
    [
        ({"val_size": -1}, "data.val_size", "expected an integer in [0, 59999]"),
        ({"val_size": 60000}, "data.val_size", "expected an integer in [0, 59999]"),
        ({"val_size": 2.5}, "data.val_size", "expected an integer, got 2.5"),
        ({"val_size": "10k"}, "data.val_size", "expected an integer"),
        ({"seed": -3}, "data.seed", "expected an integer >= 0"),
        ({"held_out": 5}, "data.held_out", "unknown key; expected one of seed, val_size"),
    ],
)
def test_bad_data_values_are_one_line_naming_the_field(doc, path, text):
    with pytest.raises(ConfigError) as info:
        from_dict(DendriticConfig, {"data": doc})
    assert info.value.path == path and str(info.value).startswith(f"{path}: {text}")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^data\.val_size: expected an integer in \[0, 59999\]"):
        replace_path(DendriticConfig(), "data.val_size", 70000)


def test_population_key_has_the_data_fields_but_not_the_run_seed():
    a = _cfg()
    assert dendritic_population_key(a) == dendritic_population_key(_cfg(seed=7)), "seed replicates share"
    assert dendritic_population_key(a) != dendritic_population_key(_cfg(data__seed=1))
    assert dendritic_population_key(a) != dendritic_population_key(_cfg(data__val_size=5000))


@pytest.mark.usefixtures("mnist_dir")
class TestData:
    def test_split_on_all_training_images_before_the_subset(self, tmp_path):
        full = load_mnist(MNIST_DIR)
        keep, val = stratified_split(full.train_y, 10000, 0)
        small = load_data(_cfg(), _ctx(tmp_path))  # train_subset 2000
        assert torch.equal(small.val_x, full.train_x[val]) and torch.equal(small.val_y, full.train_y[val])
        assert torch.equal(small.train_x, full.train_x[keep[:2000]])
        assert not set(keep[:2000].tolist()) & set(val.tolist())
        assert torch.bincount(small.val_y).tolist() == [987, 1124, 993, 1022, 974, 904, 986, 1044, 975, 991]
        whole = load_data(_cfg(train__train_subset=0), _ctx(tmp_path))
        assert whole.train_x.shape[0] == 50000 and torch.equal(whole.val_x, small.val_x)

    def test_data_seed_chooses_the_images_and_the_run_seed_does_not(self, tmp_path):
        ref = load_data(_cfg(), _ctx(tmp_path))
        other_run = load_data(_cfg(seed=12), _ctx(tmp_path))
        other_data = load_data(_cfg(data__seed=1), _ctx(tmp_path))
        assert torch.equal(ref.val_x, other_run.val_x) and torch.equal(ref.train_x, other_run.train_x)
        assert not torch.equal(ref.val_y, other_data.val_y) or not torch.equal(ref.val_x, other_data.val_x)
        assert torch.bincount(ref.val_y).tolist() == torch.bincount(other_data.val_y).tolist()

    def test_val_size_zero_trains_on_all_sixty_thousand(self, tmp_path):
        data = load_data(_cfg(data__val_size=0, train__train_subset=0), _ctx(tmp_path))
        assert data.train_x.shape[0] == 60000 and data.val_x is None
        rec = _Rows()
        res = dendritic.run_dendritic(_cfg(data__val_size=0, train__epochs=1), rec, _ctx(tmp_path))
        assert not any(k.startswith("val_") for k in res.metrics) and "test_acc" in rec.rows[0][1]


def _scrambled(monkeypatch):
    """Make the experiment load MNIST with its test labels permuted."""
    inner = dendritic.load_mnist

    def load(*args, **kwargs):
        d = inner(*args, **kwargs)
        perm = torch.randperm(d.test_y.shape[0], generator=torch.Generator().manual_seed(1))
        return dataclasses.replace(d, test_y=d.test_y[perm])

    monkeypatch.setattr(dendritic, "load_mnist", load)


def _blind(rows):
    """Every reported figure except the test set's and the clocks."""
    return [
        (s, {k: v for k, v in m.items() if not k.startswith("test_") and not k.endswith("time_s")}) for s, m in rows
    ]


@pytest.mark.usefixtures("mnist_dir", "one_thread")
def test_val_acc_each_epoch_and_nothing_changes_when_test_labels_are_scrambled(tmp_path, monkeypatch):
    cfg = _cfg()
    honest = _Rows()
    res = dendritic.run_dendritic(cfg, honest, _ctx(tmp_path))
    assert [s for s, _ in honest.rows] == [1, 2]
    for _, m in honest.rows:
        assert 0.3 < m["val_acc"] <= 1 and m["val_loss"] > 0  # chance is 0.1 (measured 0.41, 0.60)
    assert res.metrics["val_acc"] == honest.rows[-1][1]["val_acc"]
    _scrambled(monkeypatch)
    blind = _Rows()
    dendritic.run_dendritic(cfg, blind, _ctx(tmp_path))
    assert _blind(blind.rows) == _blind(honest.rows)
    assert all(any(k.startswith(p) for k in m) for _, m in _blind(blind.rows) for p in ("train_", "val_"))
    assert blind.rows[-1][1]["test_acc"] < honest.rows[-1][1]["test_acc"] - 0.2, "the scramble took effect"


@pytest.mark.usefixtures("mnist_dir", "one_thread")
def test_a_population_is_blind_to_test_labels_too(tmp_path, monkeypatch):
    cfgs = [_cfg(), _cfg(seed=1, train__lr=3e-3)]
    honest = [_Rows(), _Rows()]
    run_dendritic_population(cfgs, honest, _ctx(tmp_path / "a"))
    _scrambled(monkeypatch)
    blind = [_Rows(), _Rows()]
    run_dendritic_population(cfgs, blind, _ctx(tmp_path / "b"))
    for h, b in zip(honest, blind):
        assert [s for s, _ in h.rows] == [1, 2] and all("val_acc" in m for _, m in h.rows)
        assert _blind(b.rows) == _blind(h.rows)
