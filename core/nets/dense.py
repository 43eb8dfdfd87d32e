"""The dense baseline: a plain ``nn.Linear`` MLP of given widths (He-initialised)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from core.nets.activations import activation as make_activation

__all__ = ["DenseMLP"]


class DenseMLP(nn.Sequential):
    """``widths = (784, 128, 10)`` gives Linear-act-Linear; no activation after the last layer."""

    def __init__(
        self,
        widths: Sequence[int],
        *,
        activation: str = "relu",
        gen: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            lin = nn.Linear(a, b, device=device)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(b, a, generator=gen, device=device) * math.sqrt(2.0 / a))
                lin.bias.zero_()
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(make_activation(activation, "model.soma_activation"))
        super().__init__(*layers)
