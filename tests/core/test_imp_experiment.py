"""The ``imp`` experiment kind end to end: contract, metrics, pictures, config errors."""

from __future__ import annotations

import dataclasses
import math

import pytest

from core import get_experiment
from core.config import field_paths, from_dict, replace_path
from core.contract import RunContext
from core.errors import ConfigError
from core.lottery.config import ImpConfig

FINAL_KEYS = (
    "val_acc",
    "test_acc",
    "val_min_task_acc",
    "test_min_task_acc",
    "n_params",
    "levels_done",
    "split_level",
    "val_split_min_task_acc",
    "test_split_min_task_acc",
    "val_dense_acc",
    "test_dense_acc",
    "still_ticket",
    "split_ticket",
    "test_still_ticket",
    "test_split_ticket",
)
LEVEL_KEYS = ("val_acc", "val_min_task_acc", "val_loss", "test_acc", "test_min_task_acc", "n_params")
KNOBS = {
    "imp.target_params": 25,
    "imp.levels": 3,
    "model.widths": [12, 10],
    "train.lr": 3e-3,
    "data.noise": 0.0,
    "imp.rewind_step": 2,
    "imp.prune_bias": True,
    "imp.scope": "layer",
    "seed": 3,
    "imp.schedule": "fraction",
    "data.k": 3,
    "data.task": "circles",
    "imp.stop_at_split": True,
}


pytestmark = pytest.mark.usefixtures("one_thread")


class _Record:
    def __init__(self):
        self.rows = []

    def report(self, step, metrics):
        self.rows.append((step, dict(metrics)))


def _small(**over) -> ImpConfig:
    cfg = from_dict(ImpConfig, {"data": {"n_samples": 400}, "train": {"max_epochs": 20, "patience": 4}})
    for k, v in over.items():
        cfg = replace_path(cfg, k, v)
    return cfg


def test_run_reports_every_level_and_returns_the_contract(tmp_path):
    rec = _Record()
    r = get_experiment("imp").run(_small(**{"imp.levels": 3}), rec, RunContext(workdir=tmp_path))
    assert [s for s, _ in rec.rows] == list(range(0, 4))
    for _s, m in rec.rows:
        assert all(isinstance(m[k], float) and math.isfinite(m[k]) for k in LEVEL_KEYS)
    assert [m["n_params"] for _s, m in rec.rows] == sorted((m["n_params"] for _s, m in rec.rows), reverse=True)
    for k in FINAL_KEYS:
        assert isinstance(r.metrics[k], float), k
    assert r.metrics["levels_done"] == 3.0
    assert r.metrics["prunable"] == 40.0  # the default target, exactly
    assert r.metrics["n_params"] == 40.0 + 36.0  # plus the 16+16+4 unpruned biases
    for rows in ("val", "test"):
        assert 0.0 <= r.metrics[f"{rows}_min_task_acc"] <= r.metrics[f"{rows}_acc"] <= 1.0
    if r.metrics["split_level"] >= 0:
        h = r.extra["history"][int(r.metrics["split_level"])]
        assert h["split"] == 1.0 and all(p["split"] == 0.0 for p in r.extra["history"][: int(r.metrics["split_level"])])
        for rows in ("val", "test"):
            assert r.metrics[f"{rows}_split_min_task_acc"] == h[f"{rows}_min_task_acc"]
        dense = r.extra["history"][0]
        assert r.metrics["still_ticket"] == float(h["val_acc"] >= dense["val_acc"] - 0.02)
    else:
        assert r.metrics["val_split_min_task_acc"] == r.metrics["test_split_min_task_acc"] == 0.0
        assert r.metrics["still_ticket"] == r.metrics["split_ticket"] == 0.0
    assert r.metrics["theory_min_removed"] == 384 / 2
    for name, path in r.artifacts.items():
        assert path.exists() and path.stat().st_size > 1000, name
    assert {"imp_accuracy_params", "imp_zombies_comatose", "imp_graph_last", "imp_trajectories"} <= set(r.artifacts)


def test_every_searchable_knob_is_a_dotted_path_and_runs(tmp_path):
    paths = field_paths(ImpConfig)
    cfg = _small()
    for k, v in KNOBS.items():
        assert k in paths, k
        cfg = replace_path(cfg, k, v)
    cfg = replace_path(cfg, "analysis.plots", False)
    rec = _Record()
    r = get_experiment("imp").run(cfg, rec, RunContext(workdir=tmp_path))
    assert r.metrics["levels_done"] <= 3 and len(rec.rows) == r.metrics["levels_done"] + 1
    if r.metrics["levels_done"] < 3:  # stop_at_split ended it early, so the last level is split
        assert rec.rows[-1][1]["split"] == 1.0


@pytest.mark.parametrize(
    "path, value, match",
    [
        ("imp.scope", "sideways", r"imp\.scope: unknown pruning scope 'sideways'; expected one of global, layer"),
        ("imp.schedule", "cubic", r"imp\.schedule: unknown pruning schedule 'cubic'; expected one of count, fraction"),
        ("imp.levels", 0, r"imp\.levels"),
        ("train.lr", -1.0, r"train\.lr"),
        ("model.widths", [], r"model\.widths"),
        ("imp.fraction", 1.0, r"imp\.fraction"),
        ("data.val_frac", 0.9, r"data\.test_frac"),
        ("data.seed", -1, r"^data\.seed: expected an integer >= 0, got -1$"),
    ],
)
def test_bad_hyperparameters_name_their_field(path, value, match):
    with pytest.raises(ConfigError, match=match):
        replace_path(ImpConfig(), path, value)


def test_target_at_or_above_the_prunable_count_is_a_config_error():
    with pytest.raises(ConfigError, match=r"imp\.target_params: expected fewer than the 384"):
        _small(**{"imp.target_params": 384})
    # with bias pruning the 36 biases count too; the fraction schedule ignores the target
    assert _small(**{"imp.prune_bias": True, "imp.target_params": 400}).prunable_count() == 420
    _small(**{"imp.schedule": "fraction", "imp.target_params": 10_000})


def test_defaults_are_frozen_and_hash_stable():
    a, b = ImpConfig(), ImpConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.seed = 1  # type: ignore[misc]
    from core.config import config_hash

    assert config_hash(a) == config_hash(b) != config_hash(replace_path(a, "train.lr", 0.02))
