"""The activation functions, by name: one registry for every network of both experiments.

Each entry is a parameter-free ``nn.Module`` class; :func:`activation` returns an instance,
which ``nn.Sequential`` can hold and functional code can call like ``F.relu``.
"""

from __future__ import annotations

from torch import nn

from core.registry import Registry

__all__ = ["ACTIVATIONS", "activation"]

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("leaky_relu")(nn.LeakyReLU)  # negative slope 0.01
ACTIVATIONS.register("sigmoid")(nn.Sigmoid)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("identity")(nn.Identity)


def activation(name: str, path: str = "") -> nn.Module:
    """A new instance of the activation ``name``; an unknown name raises listing the choices."""
    return ACTIVATIONS.get(name, path)()
