"""A short real training on the MNIST files: the experiment learns, reports, and draws."""

from __future__ import annotations

import pytest

from core import get_experiment
from core.config import from_dict
from core.contract import RunContext
from tests.helpers import MNIST_DIR as SHARED

pytestmark = pytest.mark.usefixtures("mnist_dir")  # skipped without the files; failed under CI's requirement


class Recorder:
    def __init__(self):
        self.steps, self.metrics = [], []

    def report(self, step, metrics):
        self.steps.append(step)
        self.metrics.append(dict(metrics))


def _run(tmp_path, **over):
    exp = get_experiment("dendritic")
    doc = {
        "train": {"epochs": 3, "train_subset": 6000, "test_subset": 2000, "batch_size": 64},
        "plasticity": {"every_steps": 20, "cooldown_batches": 5},
        "plots": False,
    }
    for k, v in over.items():
        doc.setdefault(k, {}).update(v) if isinstance(v, dict) else doc.__setitem__(k, v)
    rec = Recorder()
    res = exp.run(from_dict(exp.config_cls, doc), rec, RunContext(data_dir=SHARED, workdir=tmp_path, threads=1))
    return res, rec


def test_short_training_learns_and_reports(tmp_path):
    res, rec = _run(tmp_path)
    m = res.metrics
    assert rec.steps == [1, 2, 3]
    for key in ("test_acc", "train_acc", "test_loss", "train_loss"):
        assert all(key in r for r in rec.metrics)
    assert m["test_acc"] > 0.6  # chance is 0.1
    assert rec.metrics[-1]["test_loss"] < rec.metrics[0]["test_loss"] * 1.05
    assert m["n_params_total"] == 3722 and 3000 < m["n_params"] <= 3722
    assert m["rounds"] > 0 and m["synapses_moved"] > 0 and m["train_time_s"] > 0
    for key in ("entropy_start", "entropy_end", "mean_lifetime_steps", "original_synapses_kept"):
        assert key in m
    assert res.artifacts == {}  # plots: false


@pytest.mark.slow
def test_figures_are_written(tmp_path):
    res, _ = _run(tmp_path, plots=True, plot_dendrites=4, train={"epochs": 2, "train_subset": 2000})
    assert {"curves", "dendrite_weights", "weight_histogram", "entropy", "turnover", "lifetimes"} <= set(res.artifacts)
    assert all(p.suffix == ".png" and p.stat().st_size > 5000 for p in res.artifacts.values())


def test_vanilla_and_dense_baselines_run(tmp_path):
    van, _ = _run(tmp_path, plasticity={"enabled": False}, train={"epochs": 1})
    assert van.metrics["rounds"] == 0 and van.metrics["synapses_moved"] == 0
    dense, _ = _run(tmp_path, model={"architecture": "dense"}, train={"epochs": 1})
    assert dense.metrics["n_params_total"] == 784 * 128 + 128 + 1290
    assert dense.metrics["test_acc"] > 0.8


def test_same_seed_same_result(tmp_path):
    a, _ = _run(tmp_path, train={"epochs": 1, "train_subset": 2000})
    b, _ = _run(tmp_path, train={"epochs": 1, "train_subset": 2000})
    c, _ = _run(tmp_path, train={"epochs": 1, "train_subset": 2000}, seed=1)
    assert a.metrics["test_loss"] == b.metrics["test_loss"] != c.metrics["test_loss"]
    assert a.metrics["synapses_moved"] == b.metrics["synapses_moved"]


def test_without_curves_epochs_evaluate_validation_and_running_means_and_the_last_epoch_everything(tmp_path):
    full_res, full = _run(tmp_path / "a")
    res, rec = _run(tmp_path / "b", curves=False)
    for m in rec.metrics[:-1]:  # epochs 1, 2: what a search decides on, nothing it must not read
        assert not {"train_loss", "train_acc", "test_loss", "test_acc"} & set(m)
        assert {"val_loss", "val_acc", "train_loss_running", "train_acc_running"} <= set(m)
    assert {"train_loss", "test_acc"} <= set(rec.metrics[-1])
    # the same training: identical values wherever both report them, and the same result
    for a, b in zip(full.metrics, rec.metrics):
        assert all(a[k] == v for k, v in b.items() if k != "train_time_s")
    assert {k: v for k, v in res.metrics.items() if "time" not in k} == {
        k: v for k, v in full_res.metrics.items() if "time" not in k
    }
    # running means describe the epoch's batches: near the end-of-epoch evaluation, below its accuracy early on
    first = full.metrics[0]
    assert first["train_acc_running"] < first["train_acc"]
    assert abs(full.metrics[-1]["train_acc_running"] - full.metrics[-1]["train_acc"]) < 0.05


def test_figures_are_written_without_curves_too(tmp_path):
    res, _rec = _run(tmp_path, plots=True, curves=False)
    assert res.artifacts["curves"].is_file() and res.artifacts["weight_histogram"].is_file()
