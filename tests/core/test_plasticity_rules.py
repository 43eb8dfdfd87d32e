"""The individual plasticity rules: exact root schedule, stochastic bias, ema, counts, trigger,
optimizer-state handling, and that the rewire step catches a broken growth rule."""

from __future__ import annotations

import pytest
import torch

from core.nets.dendritic import DendriticLayer
from core.plasticity import NEW_WEIGHTS, SCHEDULES, RewireError, Trigger, counts_for_rate, rewire, select_top
from core.plasticity.criteria import EMA, Smallest, Stochastic
from core.plasticity.growth import grow_uniform


def test_root_schedule_exact_values():
    root = SCHEDULES.get("root")
    assert [root(10.0, n, 0.0, 0.9) for n in (1, 2, 3)] == pytest.approx([10.0, 10**0.5, 10 ** (1 / 3)])
    assert root(10.0, 2, 0.0, 0.9) == pytest.approx(3.1623, abs=1e-4)
    assert root(10.0, 3, 0.0, 0.9) == pytest.approx(2.1544, abs=1e-4)
    assert root(10.0, 10_000, 0.0, 0.9) == pytest.approx(1.0, abs=1e-3)  # → 1 %
    assert root(50.0, 1, 0.0, 0.9) == 50.0


def test_other_schedules_values():
    assert SCHEDULES.get("linear")(10.0, 7, 0.25, 0.9) == pytest.approx(7.5)
    assert SCHEDULES.get("cosine")(10.0, 7, 0.5, 0.9) == pytest.approx(5.0)
    assert SCHEDULES.get("cosine")(10.0, 7, 1.0, 0.9) == pytest.approx(0.0)
    assert SCHEDULES.get("exponential")(10.0, 3, 0.9, 0.5) == pytest.approx(2.5)


def test_counts_match_rate_in_expectation():
    gen = torch.Generator().manual_seed(0)
    k = counts_for_rate(1.0, 100_000, 16, gen, "cpu")  # 0.16 synapses per dendrite
    assert set(k.unique().tolist()) == {0, 1}
    assert float(k.float().mean()) == pytest.approx(0.16, abs=0.005)
    assert torch.equal(counts_for_rate(25.0, 10, 16, gen, "cpu"), torch.full((10,), 4))


def test_select_top_variable_counts():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [4.0, 3.0, 2.0, 1.0]])
    m = select_top(scores, torch.tensor([2, 0]))
    assert m.tolist() == [[False, True, True, False], [False] * 4]


def test_smallest_drops_smallest_magnitudes():
    w = torch.tensor([[0.5, -0.01, 2.0, -0.3]])
    assert select_top(Smallest().scores(w, None), torch.tensor([2])).tolist() == [[False, True, False, True]]


def test_stochastic_prefers_small_weights_but_can_take_large():
    w = torch.linspace(0.05, 1.0, 16).repeat(4000, 1)
    gen = torch.Generator().manual_seed(0)
    drops = select_top(Stochastic(0.5).scores(w, gen), torch.full((4000,), 2)).float().mean(0)
    assert float(drops.sum()) == pytest.approx(2.0)  # the scheduled count, exactly
    assert (drops.diff() <= 0.01).all()  # removal probability falls with |w|
    assert drops[0] > 5 * drops[-1] and drops[-1] > 0  # big weights unlikely, not impossible


def test_ema_ranks_by_running_average():
    crit = EMA(beta=0.9)
    for _ in range(50):
        crit.observe(torch.tensor([[1.0, 0.2]]))
    crit.observe(torch.tensor([[0.0, 0.2]]))  # one step at zero does not make synapse 0 the weakest
    assert select_top(crit.scores(torch.tensor([[0.0, 0.2]]), None), torch.tensor([1])).tolist() == [[False, True]]
    crit.regrown(torch.tensor([[False, True]]), torch.tensor([[0.0, 0.7]]))
    assert crit.avg[0, 1] == pytest.approx(0.7)


def test_trigger_every_n_steps_and_cooldown():
    t = Trigger(every_steps=3, cooldown_batches=2, steps_per_epoch=10, total_steps=30)
    fired = [s for s in range(1, 31) if t.fires(s, (s - 1) % 10)]
    assert fired == [3, 6, 11, 14, 17, 21, 24, 27]
    # no round among the last 2 batches of any epoch (before each evaluation and the end)
    assert all((s - 1) % 10 < 8 for s in fired)


def test_trigger_stops_after_a_fraction_of_training():
    t = Trigger(every_steps=5, stop_after=0.5, steps_per_epoch=100, total_steps=100)
    assert [s for s in range(1, 101) if t.fires(s, s - 1)] == list(range(5, 51, 5))


def test_lr_schedules_exact_values():
    from core.optim import lr_at

    assert [lr_at("constant", 0.1, s, 100) for s in (0, 50, 99)] == [0.1, 0.1, 0.1]
    assert [lr_at("step", 0.1, s, 100) for s in (0, 49, 50, 74, 75, 99)] == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1] + [
        0.1 * 0.01
    ] * 2
    cos = [lr_at("cosine", 0.1, s, 100) for s in range(100)]
    assert cos[0] == 0.1 and cos[50] == pytest.approx(0.05) and 0 < cos[-1] < 1e-3
    assert cos == sorted(cos, reverse=True)


def test_trigger_interval_grows_later_in_training():
    t = Trigger(every_steps=10, interval_growth=3.0, steps_per_epoch=1000, total_steps=1000)
    fired = [s for s in range(1, 1001) if t.fires(s, s - 1)]
    gaps = [b - a for a, b in zip(fired, fired[1:])]
    assert gaps[0] == 10 and gaps[-1] >= 35 and gaps == sorted(gaps)


def _layer():
    return DendriticLayer(784, 32, 1, 16, gen=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("reset", [False, True])
def test_optimizer_state_kept_or_reset(reset):
    layer = _layer()
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    x = torch.randn(64, 784)
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
    before = {k: v.clone() for k, v in opt.state[layer.weight].items() if v.shape == layer.weight.shape}
    k = torch.full((32,), 3)
    drop = rewire(
        layer,
        k,
        scores=Smallest().scores(layer.weight.detach(), None),
        grow=grow_uniform,
        new_weights=NEW_WEIGHTS.get("zero")(None),
        optimizer=opt,
        reset_state=reset,
    )
    for name, old in before.items():
        now = opt.state[layer.weight][name]
        assert torch.equal(now[~drop], old[~drop])
        assert bool((now[drop] == 0).all()) == reset
    assert (layer.weight.detach()[drop] == 0).all()


def test_rewire_catches_a_broken_growth_rule():
    layer = _layer()

    def regrow_same(lay, k, gen):  # "grows" onto inputs the dendrite already has
        return lay.idx[:, :k].clone()

    with pytest.raises(RewireError, match="already had"):
        rewire(
            layer,
            torch.full((32,), 2),
            scores=Smallest().scores(layer.weight.detach(), None),
            grow=regrow_same,
            new_weights=NEW_WEIGHTS.get("zero")(None),
        )


def test_wide_dendrites_move_at_most_the_inputs_they_lack():
    from core.experiments.dendritic import PlasticityConfig
    from core.plasticity import Plasticity

    layer = DendriticLayer(784, 4, 1, 700, gen=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    plast = Plasticity(
        layer,
        opt,
        PlasticityConfig(p=100, schedule="constant"),
        steps_per_epoch=10,
        total_steps=10,
        gen=torch.Generator().manual_seed(0),
    )
    drop = plast.round(1)
    assert drop.sum(1).tolist() == [84] * 4
    assert (layer.idx.sort(1).values.diff(dim=1) > 0).all()
