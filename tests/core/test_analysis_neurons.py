"""Per-neuron tracking across IMP levels (core.analysis.neurons) on constructed masks, and the cut and
the neuron record of real tiny IMP runs, alone and as a population member."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.level import level_metrics
from core.analysis.neurons import episodes, live_biases, neuron_states, track_neurons
from core.config import from_dict
from core.contract import NullReporter, RunContext
from core.data.tasks import SplitData, concat_tasks, split_rows
from core.experiments.imp import run_imp_experiment
from core.experiments.imp_population import run_imp_population_experiment
from core.lottery.config import ImpConfig
from core.nets.mlp import MaskedMLP

pytestmark = pytest.mark.usefixtures("one_thread")


def _level(w0, w1, w2, b0, b1, bm0=None):
    """One level's (masks, trained) by parameter name for a 2 -> 3 -> 2 -> 2 MLP."""
    masks = {"layers.0.weight": w0, "layers.1.weight": w1, "layers.2.weight": w2}
    masks |= {"layers.0.bias": np.ones(3) if bm0 is None else bm0, "layers.1.bias": np.ones(2)}
    masks["layers.2.bias"] = np.ones(2)
    trained = {"layers.0.bias": np.asarray(b0) * masks["layers.0.bias"], "layers.1.bias": np.asarray(b1)}
    return masks, trained


def test_states_letters_follow_the_definitions():
    w0 = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])  # hidden 0, 2 have inputs; 1, 3 none
    w1 = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])  # hidden 0, 1 have outputs; layer-2 neuron 1 has none
    w2 = np.array([[1, 0], [1, 1]])
    # layer 1: 0 in+out (a), 1 out only (z), 2 in only (c), 3 neither (d); layer 2: 0 in+out, 1 out only
    assert neuron_states([w0, w1, w2]) == "azcd" + "az"


def test_lifetimes_deaths_censoring_and_bias_at_onset():
    w2 = np.ones((2, 2))
    full0, full1 = np.ones((3, 2)), np.ones((2, 3))
    levels = [
        _level(full0, full1, w2, [0.5, -0.2, 0.1], [0.3, 0.3]),
        # neuron 0 loses its inputs: a zombie from level 1 (bias 0.7 there)
        _level(np.array([[0, 0], [1, 1], [1, 1]]), full1, w2, [0.7, -0.1, 0.2], [0.3, 0.3]),
        # neuron 2 loses its outputs: comatose from level 2; neuron 1 a zombie from level 2 (bias -0.4)
        _level(np.array([[0, 0], [0, 0], [1, 1]]), np.array([[1, 1, 0], [1, 1, 0]]), w2, [0.6, -0.4, 9], [0, 0]),
        # neuron 0 loses its outputs: it died at level 3, a zombie for 2 levels; neuron 2 disconnected
        _level(np.zeros((3, 2)), np.array([[0, 1, 0], [0, 1, 0]]), w2, [1, -0.5, 1], [0, 0]),
        _level(np.zeros((3, 2)), np.array([[0, 1, 0], [0, 0, 0]]), w2, [1, -0.6, 1], [0, 0], np.array([1, 0, 1])),
    ]
    rec = track_neurons(levels)
    assert rec["hidden"] == [3, 2] and len(rec["state"]) == 5 and rec["state"][2] == "zzc" + "aa"
    zombies = {e.neuron: e for e in episodes(rec, "z")}
    assert (zombies[0].onset, zombies[0].lifetime, zombies[0].died, zombies[0].bias) == (1, 2, True, 0.7)
    # neuron 1 is still a zombie at the last level (4): censored, lived at least 3 levels
    assert (zombies[1].onset, zombies[1].lifetime, zombies[1].died, zombies[1].bias) == (2, 3, False, -0.4)
    comatose = episodes(rec, "c")
    assert [(e.neuron, e.onset, e.lifetime, e.died) for e in comatose] == [(2, 2, 1, True)]
    assert rec["bias"][4][1] is None  # pruned bias
    assert live_biases(rec, 2) == [0.6, -0.4, 0.0, 0.0] and live_biases(rec, 4) == [0.0, 0.0]


def _cfg(**imp) -> ImpConfig:
    return from_dict(
        ImpConfig,
        {
            "data": {"task": "moons", "k": 2, "n_samples": 300},
            "model": {"widths": [12, 12]},
            "train": {"max_epochs": 8, "patience": 3},
            "imp": {"levels": 4, "target_params": 12, **imp},
            "analysis": {"plots": False, "trajectories": False},
            "checkpoint": False,
        },
    )


def test_a_real_run_stores_the_cut_per_level_and_a_neuron_record_that_agrees_with_its_history(tmp_path):
    res = run_imp_experiment(_cfg(), NullReporter(), RunContext(workdir=tmp_path))
    hist, data = res.extra["history"], res.extra["run_data"]
    assert [h["cut_weights"] for h in hist] == data["cut_weights"] and len(hist) == 5
    assert all((h["cut_weights"] == 0) == (h["mixed"] == 0) == (h["cut_mass"] == 0) for h in hist)
    assert all(a >= b for a, b in zip(data["cut_weights"], data["cut_weights"][1:])), "pruning never raises it"
    assert res.metrics["cut_weights_last"] == hist[-1]["cut_weights"]
    zero = next((h["level"] for h in hist if h["cut_weights"] == 0), -1.0)
    assert res.metrics["cut_level_zero"] == zero
    assert res.metrics["split_level"] < 0 or res.metrics["cut_level_zero"] <= res.metrics["split_level"]
    states = data["neurons"]["state"]
    assert [s.count("z") for s in states] == [h["zombies"] for h in hist]
    assert [s.count("c") for s in states] == [h["comatose"] for h in hist]
    assert hist[0]["cut_weights"] == 2 * 2 * 12  # dense: every weight at task 0's inputs and outputs


def test_a_population_member_gets_the_run_alones_cut_and_neuron_record(tmp_path):
    cfgs = [_cfg(), _cfg(scope="layer")]
    alone = [run_imp_experiment(c, NullReporter(), RunContext(workdir=tmp_path / str(i))) for i, c in enumerate(cfgs)]
    pop = run_imp_population_experiment(cfgs, [NullReporter(), NullReporter()], RunContext(workdir=tmp_path / "p"))
    for a, p in zip(alone, pop):
        assert a.extra["run_data"] == p.extra["run_data"] and a.extra["history"] == p.extra["history"]


def test_level_metrics_of_a_network_that_splits_at_level_L_have_cut_above_zero_before_L_and_zero_from_L():
    x, y, layout = concat_tasks(["moons", "moons"], 200, 0.1, 0)
    train, val, test = split_rows(x, y, 0.2, 0.2, 0)
    data = SplitData(train, val, test, layout)
    torch.manual_seed(0)
    model = MaskedMLP(4, (6, 6), 4)
    # Block-diagonal by task, plus bridges across; one bridge goes per level: split at level L = 3.
    masks = {n: torch.ones_like(m) for n, (_p, m) in model.param_masks().items()}
    for name in ("layers.0.weight", "layers.1.weight", "layers.2.weight"):
        m = masks[name]
        h, w = m.shape
        m[: h // 2, w // 2 :] = m[h // 2 :, : w // 2] = 0
    bridges = [("layers.1.weight", 4, 0), ("layers.1.weight", 1, 5), ("layers.0.weight", 5, 0)]
    for name, o, i in bridges:
        masks[name][o, i] = 1
    cuts, splits = [], []
    for level in range(5):
        if 1 <= level <= len(bridges):
            name, o, i = bridges[level - 1]
            masks[name][o, i] = 0
        model.set_masks(masks)
        m, _graph = level_metrics(model, data, prune_bias=False)
        cuts.append(m["cut_weights"])
        splits.append(m["split"])
    assert cuts == [3.0, 2.0, 1.0, 0.0, 0.0] and splits == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_the_record_reads_tensors_as_a_run_holds_them():
    """Levels hold tensors on the run's device (CUDA in a GPU run): read through detach().cpu()."""
    w = torch.ones(3, 2), torch.ones(2, 3), torch.ones(2, 2)
    masks, trained = _level(*(t.clone() for t in w), torch.zeros(3), torch.zeros(2))
    trained = {n: torch.tensor([0.5, -0.25, 1.0][: len(v)], requires_grad=True) for n, v in trained.items()}
    masks = {n: torch.as_tensor(m) for n, m in masks.items()}
    rec = track_neurons([(masks, trained)])
    assert rec["state"] == ["aaaaa"] and rec["bias"] == [[0.5, -0.25, 1.0, 0.5, -0.25]]
