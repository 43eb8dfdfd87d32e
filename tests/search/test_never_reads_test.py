"""A search never reads the test set: scrambling the test labels changes no objective value, no
intermediate value and no pruning decision. Runs the real objective in-process, with
seed replicates trained as population members and a median pruner that does prune."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from optuna.trial import TrialState

import core.experiments.dendritic as dendritic
from search.store import read_record
from tests.helpers import MNIST_DIR, optimize_here, require_mnist

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _dendritic_doc() -> dict:
    return {
        "study": {
            "name": "blind",
            "direction": "maximize",
            "metric": "val_acc",
            "n_trials": 6,
            "replicates": 2,
            "sampler": {"name": "random", "seed": 5},
            "pruner": {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
        },
        "experiment": {
            "kind": "dendritic",
            "plots": False,
            "data": {"val_size": 600},
            "model": {"n_somata": 16, "synapses_per_dendrite": 8},
            "train": {"epochs": 3, "batch_size": 64, "train_subset": 800, "test_subset": 500},
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 1.0e-4, "high": 3.0e-2, "log": True},
            "plasticity.p": {"type": "float", "low": 1.0, "high": 50.0},
            # the knobs of the second night: none of them may open a path to the test set
            "train.lr_schedule": {"type": "categorical", "choices": ["constant", "cosine", "step"]},
            "train.weight_decay": {"type": "categorical", "choices": [0.0, 1.0e-4]},
            "plasticity.optimizer_state": {"type": "categorical", "choices": ["keep", "reset"]},
            "plasticity.stop_after": {"type": "float", "low": 0.5, "high": 1.0},
            "model.dendrite_activation": {"type": "categorical", "choices": ["relu", "leaky_relu"]},
            "model.init_fan_in": {"type": "categorical", "choices": ["synapses", "inputs"]},
        },
        "resources": {"workers": 1, "population": 4},
    }


def _scrambled_loader(load):
    def load_scrambled(*args, **kwargs):
        data = load(*args, **kwargs)
        perm = torch.randperm(data.test_y.shape[0], generator=torch.Generator().manual_seed(0))
        return dataclasses.replace(data, test_y=data.test_y[perm])

    return load_scrambled


def test_dendritic_search_is_blind_to_the_test_labels(tmp_path, monkeypatch) -> None:
    require_mnist()
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    plain = optimize_here(tmp_path / "plain", _dendritic_doc(), 6, population=4).get_trials()
    monkeypatch.setattr(dendritic, "load_mnist", _scrambled_loader(dendritic.load_mnist))
    blind = optimize_here(tmp_path / "blind", _dendritic_doc(), 6, population=4).get_trials()
    assert len(plain) == len(blind) >= 6
    assert {t.state for t in plain} >= {TrialState.COMPLETE, TrialState.PRUNED}, "the pruner really decided"
    for a, b in zip(plain, blind):
        assert (a.params, a.state, a.values, a.intermediate_values) == (
            b.params,
            b.state,
            b.values,
            b.intermediate_values,
        )
    done = [(a, b) for a, b in zip(plain, blind) if a.state == TrialState.COMPLETE]
    assert any(read_record(a).metrics["test_acc"] != read_record(b).metrics["test_acc"] for a, b in done), (
        "the scramble took effect"
    )
    assert all(read_record(a).n_seeds == 2.0 for a, _ in done)


def imp_doc() -> dict:
    return {
        "study": {
            "name": "blind-imp",
            "direction": "maximize",
            "metric": "val_split_min_task_acc",
            "n_trials": 4,
            "replicates": 2,
            "sampler": {"name": "random", "seed": 2},
            "pruner": {"name": "none"},
        },
        "experiment": {
            "kind": "imp",
            "data": {"n_samples": 300},
            "model": {"widths": [8, 8]},
            "train": {"max_epochs": 8, "patience": 3},
            "imp": {"levels": 3, "target_params": 20},
            "analysis": {"plots": False, "trajectories": False},
            "checkpoint": False,
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 3.0e-3, "high": 5.0e-2, "log": True},
            "imp.target_params": {"type": "int", "low": 12, "high": 60},
        },
        "resources": {"workers": 1, "population": 4},
    }


def test_imp_search_is_blind_to_the_test_labels(tmp_path, monkeypatch) -> None:
    import core.experiments.imp_population as imp_population
    from tests.core.test_imp_validation import scrambled

    plain = optimize_here(tmp_path / "plain", imp_doc(), 4, population=4).get_trials()
    monkeypatch.setattr(imp_population, "build_data", scrambled(imp_population.build_data))
    blind = optimize_here(tmp_path / "blind", imp_doc(), 4, population=4).get_trials()
    assert [t.state for t in plain] == [TrialState.COMPLETE] * 4
    for a, b in zip(plain, blind):
        assert (a.params, a.state, a.values, a.intermediate_values) == (
            b.params,
            b.state,
            b.values,
            b.intermediate_values,
        )
        ra, rb = read_record(a), read_record(b)
        for key in ("split_ticket", "still_ticket", "split_level"):
            assert ra.metrics[key] == rb.metrics[key], key
        assert (
            ra.replicates["per_seed"]["val_split_min_task_acc"] == rb.replicates["per_seed"]["val_split_min_task_acc"]
        )
    assert any(
        read_record(a).metrics["test_acc"] != read_record(b).metrics["test_acc"] for a, b in zip(plain, blind)
    ), "the scramble took effect"
