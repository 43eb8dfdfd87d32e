"""Our magnitude pruning agrees with torch.nn.utils.prune on the same tensors."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import prune

from core.lottery.config import ImpSection
from core.lottery.pruning import prunable_names, prune_step
from core.nets.mlp import MaskedMLP


def _pair(seed: int):
    """Our masked model and a plain torch copy with identical (tie-free) weights."""
    torch.manual_seed(seed)
    ours = MaskedMLP(6, (20, 12), 4)
    ref = torch.nn.Sequential(*[torch.nn.Linear(l.in_features, l.out_features) for l in ours.layers])
    ref.load_state_dict({k.replace("layers.", ""): v for k, v in ours.state_dict().items() if "mask" not in k})
    return ours, ref


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_pruning_matches_global_unstructured(seed):
    ours, ref = _pair(seed)
    cfg = ImpSection(levels=4, schedule="fraction", fraction=0.3, scope="global")
    names = prunable_names(list(ours.param_masks()), False)
    initial = {n: ours.param_masks()[n][1].numel() for n in names}
    targets = [(l, "weight") for l in ref]
    for level in range(1, 5):
        pm = ours.param_masks()
        alive = sum(int(pm[n][1].sum()) for n in names)
        new = prune_step({n: pm[n] for n in names}, names, 3, "global", "fraction", cfg, level, initial)
        kept = sum(int(v.sum()) for v in new.values())
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=alive - kept)
        for i, layer in enumerate(ref):
            assert torch.equal(new[f"layers.{i}.weight"], layer.weight_mask), (level, i)
        ours.set_masks(new)
        # Both go on pruning the same surviving (unchanged) values at the next level.


@pytest.mark.parametrize("seed", [0, 1])
def test_layer_pruning_matches_l1_unstructured_per_layer(seed):
    ours, ref = _pair(seed)
    cfg = ImpSection(levels=3, schedule="fraction", fraction=0.2, output_fraction=0.1, scope="layer")
    names = prunable_names(list(ours.param_masks()), False)
    initial = {n: ours.param_masks()[n][1].numel() for n in names}
    for level in range(1, 4):
        pm = ours.param_masks()
        new = prune_step({n: pm[n] for n in names}, names, 3, "layer", "fraction", cfg, level, initial)
        for i, layer in enumerate(ref):
            alive = int(pm[f"layers.{i}.weight"][1].sum())
            kept = int(new[f"layers.{i}.weight"].sum())
            prune.l1_unstructured(layer, "weight", amount=alive - kept)
            assert torch.equal(new[f"layers.{i}.weight"], layer.weight_mask), (level, i)
        ours.set_masks(new)


def test_biases_are_pruned_only_when_asked():
    ours, _ = _pair(0)
    names = prunable_names(list(ours.param_masks()), True)
    assert "layers.0.bias" in names
    with torch.no_grad():
        ours.layers[0].bias.fill_(1e-6)  # the smallest magnitudes anywhere
    initial = {n: ours.param_masks()[n][1].numel() for n in names}
    cfg = ImpSection(levels=1, schedule="count", target_params=sum(initial.values()) - 20, prune_bias=True)
    pm = ours.param_masks()
    new = prune_step({n: pm[n] for n in names}, names, 3, "global", "count", cfg, 1, initial)
    assert int(new["layers.0.bias"].sum()) == 0  # all 20 tiny biases went first
    assert "layers.0.bias" not in prunable_names(list(ours.param_masks()), False)
