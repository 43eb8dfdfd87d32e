"""The dANN layer: parameter count, gather == masked dense reference, lrf sampling, baselines,
absent synapses through optimizer steps with weight decay and rewiring, config errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.config import from_dict, replace_path
from core.errors import ConfigError
from core.experiments.dendritic import DannConfig, DendriticConfig, PlasticityConfig, build_model
from core.nets.dendritic import DANN, DendriticLayer
from core.plasticity import Plasticity


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_user_network_has_3722_parameters():
    m = DANN(784, 10, 128, 1, 16, gen=_gen())
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 3722
    assert m.dendritic.idx.shape == (128, 16)
    d = build_model(DannConfig(architecture="dense"), 10, _gen(), "cpu")
    assert [p.shape for p in d.parameters()] == [(128, 784), (128,), (10, 128), (10,)]


def test_gather_equals_masked_dense_reference():
    layer = DendriticLayer(784, 8, 3, 16, gen=_gen(), dendrite_activation="tanh", soma_activation="sigmoid")
    x = torch.randn(5, 784)
    dend = torch.tanh(x @ layer.dense_weight().T + layer.dendrite_bias)
    ref = torch.sigmoid((dend.view(5, 8, 3) * layer.soma_weight).sum(-1) + layer.soma_bias)
    assert torch.allclose(layer(x), ref, atol=1e-5)


@pytest.mark.parametrize("grad", [True, False])
def test_the_network_computes_the_layer_then_the_readout_through_the_population_kernels(grad):
    # DANN.forward is the population's arithmetic with one member (training path with autograd,
    # evaluation path without); it must be the readable dendritic layer + linear readout.
    m = DANN(784, 10, 12, 3, 16, gen=_gen(3), dendrite_activation="tanh", soma_activation="leaky_relu")
    x = torch.randn(70, 784)
    with torch.set_grad_enabled(grad):
        got, ref = m(x), m.out(m.dendritic(x))
    assert got.shape == (70, 10) and got.requires_grad == grad
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    if grad:
        (g,) = torch.autograd.grad(got.square().sum(), m.dendritic.weight)
        (r,) = torch.autograd.grad(ref.square().sum(), m.dendritic.weight)
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


def test_random_inputs_distinct_and_he_scaled():
    layer = DendriticLayer(784, 2000, 1, 16, gen=_gen())
    assert (layer.idx.sort(1).values.diff(dim=1) > 0).all()
    assert layer.connection_mask().sum(1).eq(16).all()
    assert float(layer.weight.detach().std()) == pytest.approx((2 / 16) ** 0.5, rel=0.05)
    assert layer.connection_mask().float().mean(0).std() < 0.01  # inputs used uniformly


def test_init_fan_in_inputs_scales_by_all_784_inputs():
    layer = DendriticLayer(784, 2000, 1, 16, init_fan_in="inputs", gen=_gen())
    assert layer.he_std == (2 / 784) ** 0.5
    assert float(layer.weight.detach().std()) == pytest.approx((2 / 784) ** 0.5, rel=0.05)


def test_lrf_inputs_cluster_around_centre():
    layer = DendriticLayer(784, 200, 1, 16, input_sampling="lrf", sigma=2.0, gen=_gen())
    rc = torch.stack([layer.idx // 28, layer.idx % 28], -1).float()
    spread = (rc - layer.centres[:, None].float()).norm(dim=-1)
    assert float(spread.mean()) < 4.0
    assert (layer.idx.sort(1).values.diff(dim=1) > 0).all()


@pytest.mark.parametrize("opt_name", ["adam", "adamw", "sgd"])
def test_absent_synapses_stay_absent_through_training_and_weight_decay(opt_name):
    """Only the existing synapses carry weight: after optimizer steps with weight decay and
    rewiring, the dense view is zero wherever the dendrite has no synapse, and the 16 per
    dendrite remain."""
    from core.optim import make_optimizer

    model = DANN(784, 10, 16, 2, 16, gen=_gen())
    layer = model.dendritic
    opt = make_optimizer(opt_name, model.parameters(), lr=1e-2, weight_decay=0.1, momentum=0.9)
    plast = Plasticity(
        layer,
        opt,
        PlasticityConfig(p=50, schedule="constant", every_steps=2, new_weight_init="he", optimizer_state="reset"),
        steps_per_epoch=20,
        total_steps=20,
        gen=_gen(1),
    )
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    for step in range(1, 21):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        plast(step, step - 1)
        dense = layer.dense_weight()
        assert torch.equal(dense != 0, layer.connection_mask() & (dense != 0))
        assert layer.connection_mask().sum(1).eq(16).all()
    assert plast.rounds == 10 and plast.moved > 0
    assert torch.equal(
        layer.dense_weight()[~layer.connection_mask()], torch.zeros(int((~layer.connection_mask()).sum()))
    )


@pytest.mark.parametrize(
    "path, value, match",
    [
        ("model.synapses_per_dendrite", 1000, "synapses_per_dendrite: expected at most n_inputs = 784"),
        ("plasticity.p", 150.0, "plasticity.p: expected a rate in \\[0, 100\\] percent"),
        ("plasticity.p", -1.0, "plasticity.p"),
        (
            "plasticity.criterion",
            "biggest",
            "plasticity.criterion: unknown drop criterion 'biggest'; expected one of distribution, ema, smallest, stochastic",
        ),
        ("plasticity.schedule", "sqrt", "plasticity.schedule: unknown rate schedule"),
        ("plasticity.growth", "nearest", "plasticity.growth: unknown growth rule"),
        ("plasticity.new_weight_init", "ones", "plasticity.new_weight_init"),
        ("plasticity.every_steps", 0, "plasticity.every_steps"),
        ("plasticity.optimizer_state", "drop", "plasticity.optimizer_state"),
        ("train.optimizer", "lbfgs", "train.optimizer: unknown optimizer"),
        ("train.lr", 0.0, "train.lr"),
        ("model.dendrite_activation", "gelu2", "model.dendrite_activation"),
        ("model.init_fan_in", "outputs", "model.init_fan_in"),
        ("train.lr_schedule", "linear", "train.lr_schedule: unknown learning-rate schedule 'linear'"),
        ("plasticity.stop_after", 0.0, "plasticity.stop_after: expected a fraction of training in \\(0, 1\\]"),
        ("plasticity.stop_after", 1.5, "plasticity.stop_after"),
    ],
)
def test_bad_hyperparameters_name_the_field(path, value, match):
    with pytest.raises(ConfigError, match=match):
        replace_path(DendriticConfig(), path, value)


def test_config_from_nested_dict_and_frozen():
    cfg = from_dict(DendriticConfig, {"seed": 3, "plasticity": {"p": 5, "schedule": "cosine"}, "train": {"epochs": 2}})
    assert cfg.plasticity.p == 5.0 and cfg.plasticity.criterion == "smallest" and cfg.train.epochs == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="plasticity.rate: unknown key"):
        from_dict(DendriticConfig, {"plasticity": {"rate": 5}})
