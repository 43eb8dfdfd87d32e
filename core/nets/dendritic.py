"""A dendritic ANN (dANN, after Chavlis & Poirazi 2025) in a gather formulation.

Each of the ``n_somata * dendrites_per_soma`` dendrites owns exactly
``synapses_per_dendrite`` synapses: an index into the input vector (``idx``, a buffer) and a
weight (``weight``, a parameter), both ``(n_dendrites, synapses)``. The forward pass gathers
only the inputs a dendrite sees, ``x[:, idx] * weight`` summed over synapses, instead of a
784-wide masked matmul (implemented with ``F.embedding_bag``, a fused gather-multiply-sum):
the work is proportional to the synapses that exist, and an absent
synapse has no weight that could be touched by a gradient, weight decay or optimizer state.
Rewiring changes ``idx`` (and re-initialises the affected weights) in place.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.nets.activations import activation
from core.nets.dendritic_kernels import eval_forward, train_forward

__all__ = ["DendriticLayer", "DANN", "sample_inputs", "lrf_probabilities", "grid_coords"]


def grid_coords(n_inputs: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_inputs, 2) row/column of each input on the square image grid (28x28 for MNIST)."""
    side = math.isqrt(n_inputs)
    if side * side != n_inputs:
        raise ValueError(f"lrf needs a square input grid, got {n_inputs} inputs")
    r = torch.arange(n_inputs, device=device) // side
    return torch.stack([r, torch.arange(n_inputs, device=device) % side], 1).float()


def lrf_probabilities(centres: torch.Tensor, n_inputs: int, sigma: float) -> torch.Tensor:
    """(n_dendrites, n_inputs) unnormalised Gaussian weights around each dendrite's centre."""
    d2 = torch.cdist(centres.float(), grid_coords(n_inputs, centres.device)).pow(2)
    # a floor keeps every input reachable, so a narrow sigma never leaves too few candidates
    return torch.exp(-d2 / (2 * sigma**2)) + 1e-12


def sample_without_replacement(probs: torch.Tensor, k: int, gen: torch.Generator | None) -> torch.Tensor:
    """``k`` distinct column indices per row, drawn with probability ∝ ``probs`` (Gumbel top-k).

    Rows with zero probability for a column never pick it. Vectorised over rows.
    """
    u = torch.rand(probs.shape, generator=gen, device=probs.device).clamp_(1e-20, 1.0)
    keys = torch.log(probs) - torch.log(-torch.log(u))
    return keys.topk(k, dim=1).indices


def sample_inputs(
    n_dendrites: int,
    n_inputs: int,
    synapses: int,
    how: str,
    *,
    sigma: float = 3.0,
    gen: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial ``idx`` (n_dendrites, synapses) and per-dendrite ``centres`` (n_dendrites, 2).

    ``random``: uniform without repetition; ``lrf``: Gaussian of width ``sigma`` (pixels)
    around a centre drawn uniformly on the grid. Centres are drawn in both cases so that
    ``lrf`` growth can be combined with random initial inputs.
    """
    side = math.isqrt(n_inputs)
    centres = torch.randint(0, side, (n_dendrites, 2), generator=gen, device=device)
    if how == "random":
        probs = torch.ones(n_dendrites, n_inputs, device=device)
    elif how == "lrf":
        probs = lrf_probabilities(centres, n_inputs, sigma)
    else:
        raise ValueError(f"unknown input sampling {how!r}; expected lrf, random")
    return sample_without_replacement(probs, synapses, gen), centres


class DendriticLayer(nn.Module):
    """Dendrites with a fixed number of synapses each, feeding their somata.

    dendrite d: a_d = f_d(sum_j weight[d, j] * x[idx[d, j]] + dendrite_bias[d])
    soma s:     y_s = f_s(sum_{d in s} soma_weight[s, d] * a_d + soma_bias[s])
    """

    def __init__(
        self,
        n_inputs: int,
        n_somata: int,
        dendrites_per_soma: int,
        synapses_per_dendrite: int,
        *,
        input_sampling: str = "random",
        sigma: float = 3.0,
        dendrite_activation: str = "relu",
        soma_activation: str = "relu",
        init_fan_in: str = "synapses",
        gen: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        if init_fan_in not in ("synapses", "inputs"):
            raise ValueError(f"unknown init_fan_in {init_fan_in!r}; expected inputs, synapses")
        if synapses_per_dendrite > n_inputs:
            raise ValueError(f"{synapses_per_dendrite} synapses per dendrite > {n_inputs} inputs")
        self.n_inputs, self.n_somata = n_inputs, n_somata
        self.dendrites_per_soma, self.synapses = dendrites_per_soma, synapses_per_dendrite
        self.fan_in = synapses_per_dendrite if init_fan_in == "synapses" else n_inputs
        n_d = n_somata * dendrites_per_soma
        idx, centres = sample_inputs(
            n_d, n_inputs, synapses_per_dendrite, input_sampling, sigma=sigma, gen=gen, device=device
        )
        self.register_buffer("idx", idx)
        self.register_buffer("centres", centres)
        # He (Kaiming normal) init of the live weights. Fan-in ``synapses`` (default): the
        # synapses a dendrite really has; ``inputs``: the 784 of a dense layer, as a dendritic
        # layer written as a masked dense matrix would initialise it (a 7x smaller scale).
        self.weight = nn.Parameter(torch.randn(n_d, synapses_per_dendrite, generator=gen, device=device) * self.he_std)
        self.dendrite_bias = nn.Parameter(torch.zeros(n_d, device=device))
        self.soma_weight = nn.Parameter(
            torch.randn(n_somata, dendrites_per_soma, generator=gen, device=device)
            * math.sqrt(2.0 / dendrites_per_soma)
        )
        self.soma_bias = nn.Parameter(torch.zeros(n_somata, device=device))
        self.f_dendrite = activation(dendrite_activation, "model.dendrite_activation")
        self.f_soma = activation(soma_activation, "model.soma_activation")

    @property
    def n_dendrites(self) -> int:
        return self.idx.shape[0]

    @property
    def he_std(self) -> float:
        """The initial weights' scale, sqrt(2 / fan-in); regrown ``he``/``small`` weights use it too."""
        return math.sqrt(2.0 / self.fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # embedding_bag is a fused gather-multiply-sum: each dendrite is a "bag" of its input
        # rows of x.T, weighted by its synapse weights. Measured ~2.7x faster (forward +
        # backward, CPU, batch 128) than index_select + mul + sum, which materialises a
        # (batch, dendrites, synapses) tensor, and ~3x faster than a 784-wide masked matmul.
        d = F.embedding_bag(self.idx, x.T.contiguous(), per_sample_weights=self.weight, mode="sum").T
        a = self.f_dendrite(d + self.dendrite_bias)
        a = a.view(x.shape[0], self.n_somata, self.dendrites_per_soma)
        return self.f_soma((a * self.soma_weight).sum(-1) + self.soma_bias)

    def dense_weight(self) -> torch.Tensor:
        """(n_dendrites, n_inputs) matrix with the synapse weights at their inputs, zeros elsewhere."""
        w = torch.zeros(self.n_dendrites, self.n_inputs, device=self.weight.device, dtype=self.weight.dtype)
        return w.scatter(1, self.idx, self.weight.detach())

    def connection_mask(self) -> torch.Tensor:
        """(n_dendrites, n_inputs) bool: which inputs each dendrite is connected to."""
        m = torch.zeros(self.n_dendrites, self.n_inputs, dtype=torch.bool, device=self.idx.device)
        return m.scatter(1, self.idx, True)


class DANN(nn.Module):
    """Dendritic layer followed by a dense output layer (logits)."""

    def __init__(
        self,
        n_inputs: int,
        n_classes: int,
        n_somata: int,
        dendrites_per_soma: int,
        synapses_per_dendrite: int,
        *,
        gen: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        **layer_kw,
    ) -> None:
        super().__init__()
        self.dendritic = DendriticLayer(
            n_inputs, n_somata, dendrites_per_soma, synapses_per_dendrite, gen=gen, device=device, **layer_kw
        )
        self.out = nn.Linear(n_somata, n_classes, device=device)
        with torch.no_grad():
            self.out.weight.copy_(
                torch.randn(self.out.weight.shape, generator=gen, device=device) * math.sqrt(2.0 / n_somata)
            )
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, classes]: the population's kernels with a population of one.

        Training steps (autograd on) take :func:`~core.nets.dendritic_kernels.train_forward`,
        evaluation (``torch.no_grad``) takes ``eval_forward``, as a population does, so a run
        alone and a member of a population round alike on every CPU. The same function as
        ``self.out(self.dendritic(x))`` up to float rounding (``tests/core/test_dendritic_model.py``).
        """
        layer = self.dendritic
        params = [
            t.unsqueeze(0)
            for t in (
                layer.weight,
                layer.dendrite_bias,
                layer.soma_weight,
                layer.soma_bias,
                self.out.weight,
                self.out.bias,
            )
        ]
        idx = layer.idx.unsqueeze(0)
        if torch.is_grad_enabled():
            return train_forward(idx, params, x.unsqueeze(0), None, self._act)[0]
        return eval_forward(idx, params, x, self._act)[0]

    def _act(self, which: str, t: torch.Tensor) -> torch.Tensor:
        return getattr(self.dendritic, which)(t)
