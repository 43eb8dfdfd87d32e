"""Every registered criterion, growth rule, schedule and init rule meets the same contract.

A new entry in a registry is tested here for free (the pattern of Optuna's storage suite).
"""

from __future__ import annotations

import math

import pytest
import torch

from core.experiments.dendritic import PlasticityConfig
from core.nets.dendritic import DendriticLayer
from core.plasticity import CRITERIA, GROWTH, NEW_WEIGHTS, SCHEDULES, counts_for_rate, rewire


def _layer(seed: int = 0, n_d: int = 64, s: int = 16, sampling: str = "random") -> DendriticLayer:
    return DendriticLayer(784, n_d, 1, s, input_sampling=sampling, gen=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("growth", GROWTH.names())
class TestRewireConformance:
    def test_invariants_over_many_rounds(self, criterion, growth):
        pc = PlasticityConfig(criterion=criterion, growth=growth)
        crit, grow = CRITERIA.get(criterion)(pc), GROWTH.get(growth)(pc)
        layer, gen = _layer(), torch.Generator().manual_seed(1)
        for _ in range(1, 30):
            crit.observe(layer.weight)
            old_idx, old_w = layer.idx.clone(), layer.weight.detach().clone()
            k = counts_for_rate(25.0, layer.n_dendrites, layer.synapses, gen, "cpu")
            drop = rewire(
                layer,
                k,
                scores=crit.scores(layer.weight.detach(), gen),
                grow=grow,
                new_weights=NEW_WEIGHTS.get("he")(pc),
                gen=gen,
            )
            crit.regrown(drop, layer.weight.detach())
            assert torch.equal(drop.sum(1), k)  # exactly the scheduled count, per dendrite
            assert layer.idx.shape == old_idx.shape
            assert (layer.idx.sort(1).values.diff(dim=1) > 0).all()  # no duplicates
            moved_to = torch.where(drop, layer.idx, -1)
            assert not (moved_to[:, :, None] == old_idx[:, None, :]).any()  # disjoint from before
            assert torch.equal(layer.weight.detach()[~drop], old_w[~drop])  # kept synapses untouched
            assert torch.equal(layer.idx[~drop], old_idx[~drop])
            assert int(layer.idx.min()) >= 0 and int(layer.idx.max()) < 784

    def test_rate_zero_moves_nothing(self, criterion, growth):
        pc = PlasticityConfig(criterion=criterion, growth=growth)
        crit = CRITERIA.get(criterion)(pc)
        layer = _layer()
        crit.observe(layer.weight)
        before = layer.idx.clone()
        k = counts_for_rate(0.0, layer.n_dendrites, layer.synapses, None, "cpu")
        drop = rewire(
            layer,
            k,
            scores=crit.scores(layer.weight.detach(), None),
            grow=GROWTH.get(growth)(pc),
            new_weights=NEW_WEIGHTS.get("zero")(pc),
        )
        assert not drop.any() and torch.equal(layer.idx, before)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedule_contract(name):
    sched = SCHEDULES.get(name)
    rates = [sched(10.0, n, (n - 1) / 99, 0.9) for n in range(1, 101)]
    assert rates[0] == pytest.approx(10.0)  # every schedule starts at p
    assert all(0.0 <= r <= 10.0 + 1e-9 for r in rates)
    assert all(b <= a + 1e-9 for a, b in zip(rates, rates[1:]))  # never increases for p >= 1 %
    assert sched(0.0, 5, 0.5, 0.9) == 0.0


@pytest.mark.parametrize("name", NEW_WEIGHTS.names())
def test_new_weight_contract(name):
    live = torch.randn(2000, 16, generator=torch.Generator().manual_seed(1)) * 0.5
    w = NEW_WEIGHTS.get(name)(PlasticityConfig())(live, 0.5, torch.Generator().manual_seed(0))
    assert w.shape == (2000, 16) and torch.isfinite(w).all()
    assert float(w.std()) <= 0.5 * 1.1  # never larger than the He scale
    assert abs(float(w.mean())) < 0.02


def test_growth_lrf_stays_local():
    pc = PlasticityConfig(growth="lrf", growth_sigma=2.0)
    layer = _layer(sampling="lrf")
    grown = GROWTH.get("lrf")(pc)(layer, 4, torch.Generator().manual_seed(0))
    rc = torch.stack([grown // 28, grown % 28], -1).float()
    dist = (rc - layer.centres[:, None, :].float()).norm(dim=-1)
    uniform = GROWTH.get("uniform")(pc)(layer, 4, torch.Generator().manual_seed(0))
    dist_u = (torch.stack([uniform // 28, uniform % 28], -1).float() - layer.centres[:, None, :].float()).norm(dim=-1)
    assert float(dist.median()) < 6.0 < float(dist_u.median())


def test_unknown_names_list_the_choices():
    with pytest.raises(Exception, match="smallest"):
        CRITERIA.get("biggest", "plasticity.criterion")
    assert math.isclose(SCHEDULES.get("root")(10.0, 1, 0.0, 0.9), 10.0)
