"""A prunable MLP: every weight (and optionally every bias) has a 0/1 mask buffer.

The forward pass multiplies by the mask, so a pruned entry neither contributes nor
receives gradient, whatever the optimizer does to the stored value; :meth:`apply_masks`
also zeroes the stored values so that checkpoints and magnitudes are honest. Each layer's
product is the population's (:func:`~core.nets.mlp_batched.batched_linear`) with a population
of one, so a run alone and a member of a :class:`~core.nets.mlp_batched.PopulationMLP` round
alike on every CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from core.nets.activations import activation as make_activation
from core.nets.mlp_batched import batched_linear

__all__ = ["MaskedMLP"]


class MaskedMLP(nn.Module):
    """Fully connected layers ``n_in → widths... → n_out`` with weight and bias masks.

    ``masks()`` returns the mask of every parameter in ``named_parameters`` order, so
    ``dict(zip(names, masks))`` pairs them; biases always have a mask (all ones when
    bias pruning is off) to keep the bookkeeping uniform.
    """

    def __init__(self, n_in: int, widths: tuple[int, ...], n_out: int, activation: str = "relu") -> None:
        super().__init__()
        sizes = [n_in, *widths, n_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = make_activation(activation, "model.activation")
        for i, layer in enumerate(self.layers):
            self.register_buffer(f"mask_w{i}", torch.ones_like(layer.weight))
            self.register_buffer(f"mask_b{i}", torch.ones_like(layer.bias))

    @property
    def sizes(self) -> list[int]:
        """Neuron counts per layer, inputs first."""
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    def weight_masks(self) -> list[torch.Tensor]:
        return [getattr(self, f"mask_w{i}") for i in range(len(self.layers))]

    def bias_masks(self) -> list[torch.Tensor]:
        return [getattr(self, f"mask_b{i}") for i in range(len(self.layers))]

    def param_masks(self) -> dict[str, tuple[nn.Parameter, torch.Tensor]]:
        """``name → (parameter, mask)`` for every weight and bias, in layer order."""
        out: dict[str, tuple[nn.Parameter, torch.Tensor]] = {}
        for i, layer in enumerate(self.layers):
            out[f"layers.{i}.weight"] = (layer.weight, getattr(self, f"mask_w{i}"))
            out[f"layers.{i}.bias"] = (layer.bias, getattr(self, f"mask_b{i}"))
        return out

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Copy new masks in (by parameter name) and zero the pruned values."""
        pm = self.param_masks()
        for name, m in masks.items():
            pm[name][1].copy_(m)
        self.apply_masks()

    @torch.no_grad()
    def apply_masks(self) -> None:
        for p, m in self.param_masks().values():
            p.mul_(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            w, b = layer.weight * getattr(self, f"mask_w{i}"), layer.bias * getattr(self, f"mask_b{i}")
            x = batched_linear(x.unsqueeze(0), w.unsqueeze(0), b.unsqueeze(0))[0]  # F.linear, as a population
            if i < last:
                x = self.act(x)
        return x
