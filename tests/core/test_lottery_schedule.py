"""Count schedule and pruning steps land exactly on their counts, ties and rounding included."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.lottery.config import ImpSection
from core.lottery.pruning import SCOPES, keep_largest, prunable_names, prune_step
from core.lottery.schedules import SCHEDULES, apportion, count_schedule
from core.nets.mlp import MaskedMLP


@settings(max_examples=200, deadline=None)
@given(p0=st.integers(2, 10**6), data=st.data())
def test_count_schedule_follows_the_formula_and_ends_on_target(p0, data):
    target = data.draw(st.integers(1, p0 - 1))
    n = data.draw(st.integers(1, 30))
    counts = count_schedule(p0, target, n)
    assert len(counts) == n and counts[-1] == target
    for i, c in enumerate(counts[:-1], start=1):
        assert c == round(p0 * (target / p0) ** (i / n))
    assert all(a >= b for a, b in zip([p0, *counts], counts))


def test_count_schedule_known_values():
    # P0 = 400, T = 25, 4 levels: ratio (1/16)^(1/4) = 1/2 per level, exactly.
    assert count_schedule(400, 25, 4) == [200, 100, 50, 25]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=6), st.data())
def test_apportion_is_exact_and_respects_caps(groups, data):
    weights = [w for w, _ in groups]
    caps = [c for _, c in groups]
    total = data.draw(st.integers(0, sum(caps)))
    out = apportion(total, weights, caps)
    assert sum(out) == total
    assert all(0 <= o <= c for o, c in zip(out, caps))


def _model(seed=0, widths=(8, 6)):
    torch.manual_seed(seed)
    return MaskedMLP(4, widths, 4)


def _tie_model(values: int):
    """A model whose weights take only ``values`` distinct magnitudes: many ties."""
    m = _model()
    with torch.no_grad():
        for p, _ in m.param_masks().values():
            p.copy_(torch.randint(1, values + 1, p.shape).float() * torch.sign(torch.randn(p.shape)))
    return m


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("scope", SCOPES.names())
@pytest.mark.parametrize("prune_bias", [False, True])
@pytest.mark.parametrize("distinct", [1, 3, 1000])
def test_every_schedule_and_scope_prunes_exactly_and_monotonically(schedule, scope, prune_bias, distinct):
    m = _tie_model(distinct)
    cfg = ImpSection(levels=6, schedule=schedule, scope=scope, target_params=11, prune_bias=prune_bias)
    names = prunable_names(list(m.param_masks()), prune_bias)
    initial = {n: m.param_masks()[n][1].numel() for n in names}
    p0 = sum(initial.values())
    prev = {n: m.param_masks()[n][1].clone() for n in names}
    for level in range(1, cfg.levels + 1):
        pm = m.param_masks()
        new = prune_step({n: pm[n] for n in names}, names, 3, scope, schedule, cfg, level, initial)
        alive = sum(int(v.sum()) for v in new.values())
        if schedule == "count":
            assert alive == count_schedule(p0, cfg.target_params, cfg.levels)[level - 1]
        for n in names:
            assert torch.all(new[n] <= prev[n])  # a pruned entry never comes back
        m.set_masks(new)
        prev = {n: new[n].clone() for n in names}
    # non-prunable masks are untouched
    for n, (_p, mask) in m.param_masks().items():
        if n not in names:
            assert bool(mask.all())


def test_layer_fraction_schedule_is_frankle_carbin():
    m = _model(widths=(50, 40))
    cfg = ImpSection(schedule="fraction", scope="layer", fraction=0.2, output_fraction=0.1)
    names = prunable_names(list(m.param_masks()), False)
    initial = {n: m.param_masks()[n][1].numel() for n in names}
    pm = m.param_masks()
    new = prune_step({n: pm[n] for n in names}, names, 3, "layer", "fraction", cfg, 1, initial)
    assert int(new["layers.0.weight"].sum()) == 200 - 40
    assert int(new["layers.1.weight"].sum()) == 2000 - 400
    assert int(new["layers.2.weight"].sum()) == 160 - 16


def test_keep_largest_breaks_ties_by_position_and_keeps_the_largest():
    v = [torch.tensor([1.0, -3.0, 2.0, 2.0]), torch.tensor([[2.0, 0.5]])]
    masks = [torch.ones(4), torch.tensor([[1.0, 1.0]])]
    out = keep_largest(v, masks, 3)
    # -3 first, then the first two of the three 2.0s in flat order.
    assert out[0].tolist() == [0, 1, 1, 1] and out[1].tolist() == [[0, 0]]
    masks = [torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.ones(1, 2)]
    out = keep_largest(v, masks, 2)
    assert out[0][1] == 0  # dead entries never come back, however large
    with pytest.raises(ValueError):
        keep_largest(v, masks, 6)
