"""The stacked building blocks every population uses, against torch alone: the population optimizer
steps like ``torch.optim`` per member, and a member of the batched linear layer rounds like the same
layer alone (P-invariance, on every CPU)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from core.nets.mlp_batched import PopulationMLP
from core.optim_batched import PopulationOptimizer


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_population_optimizer_steps_like_torch_optim_per_member(kind):
    lrs, wds = [1e-2, 3e-3, 0.05, 1e-3], [0.0, 1e-4, 3e-2, 0.0]
    gen = torch.Generator().manual_seed(0)
    init = torch.randn(4, 16, 4, generator=gen)
    ref = [init[p].clone().requires_grad_() for p in range(4)]
    cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[kind]
    opts = [cls([ref[p]], lr=lrs[p], weight_decay=wds[p]) for p in range(4)]
    stacked = init.clone().requires_grad_()
    pop = PopulationOptimizer([stacked], kind, lrs, wds)
    for _ in range(25):
        g = torch.randn(4, 16, 4, generator=gen) * 10.0 ** float(torch.randint(-4, 2, (1,), generator=gen))
        for p in range(4):
            ref[p].grad = g[p].clone()
            opts[p].step()
        stacked.grad = g.clone()
        pop.step()
        assert all(torch.equal(stacked[p].detach(), ref[p].detach()) for p in range(4))


@pytest.mark.parametrize("threads", [1, 2])
def test_a_member_of_the_batched_layer_rounds_like_the_same_layer_alone(threads):
    # A run alone is a population of one (MaskedMLP's forward), so the promise is P-invariance:
    # member p of a population of 3 gets bitwise the outputs and gradients of the layer with p
    # alone, on every CPU; torch's own F.linear is the same function up to float rounding.
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    # degenerate, below the size threshold, tail batches, typical moons layers, large batch
    shapes = [(1, 16, 64), (4, 1, 64), (4, 16, 1), (6, 4, 16), (4, 16, 24), (16, 16, 64), (16, 4, 200), (33, 6, 1000)]

    def layer(w, b):
        states = [{"layers.0.weight": w[p], "layers.0.bias": b[p]} for p in range(w.shape[0])]
        return PopulationMLP.stack(states, [{k: torch.ones_like(v) for k, v in st.items()} for st in states])

    for n_in, n_out, rows in shapes:
        x, w, b = (torch.randn(3, *s, generator=gen) for s in ((rows, n_in), (n_out, n_in), (n_out,)))
        g = torch.randn(3, rows, n_out, generator=gen)
        net, xs = layer(w, b), x.clone().requires_grad_()
        y = net(xs)
        (y * g).sum().backward()
        grads = net.unflatten(net.flat.grad)
        for p in range(3):
            alone, xp = layer(w[p : p + 1], b[p : p + 1]), x[p : p + 1].clone().requires_grad_()
            r = alone(xp)
            (r * g[p : p + 1]).sum().backward()
            mine = alone.unflatten(alone.flat.grad)
            assert torch.equal(r[0], y[p]) and torch.equal(xp.grad[0], xs.grad[p]), (n_in, n_out, rows)
            for name in grads:
                assert torch.equal(mine[name][0], grads[name][p]), (name, n_in, n_out, rows)
            wp, bp = w[p].clone().requires_grad_(), b[p].clone().requires_grad_()
            torch_ref = F.linear(x[p], wp, bp)
            (torch_ref * g[p]).sum().backward()
            torch.testing.assert_close(torch_ref, y[p], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(wp.grad, grads["layers.0.weight"][p], rtol=1e-4, atol=1e-4)
