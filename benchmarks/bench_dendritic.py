"""Speed of one MNIST epoch of the user's 3,722-parameter dANN against a dense MLP.

    python benchmarks/bench_dendritic.py [--data DIR] [--repeats 3] [--devices cpu,cuda]

Rows, all in one process on the same data tensors, batch 128, Adam:
  dANN + resampling   the shipped default plasticity (core.train.train, the real loop)
  dANN vanilla        resampling off
  dANN masked-dense   the same network as a 784-wide masked matmul (the formulation the
                      gather layer replaces; kept here to show the choice is measured)
  dense MLP           nn.Linear 784-128-10, same loop
  dense MLP DataLoader  the same MLP fed by a standard torch DataLoader (num_workers=0)
CPU is measured with 1 thread and with all threads; CUDA when available. Each row is the
best of ``--repeats`` epochs (warm-up excluded), rows interleaved so that background load
hits them alike. Training time only: evaluation is not timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.data.mnist import load_mnist
from core.experiments.dendritic import DannConfig, DendriticConfig, build_model
from core.plasticity import Plasticity
from core.train import train

BATCH = 128


class MaskedDenseDANN(nn.Module):
    """Reference formulation: each dendrite a 784-wide row of weights times a 0/1 mask."""

    def __init__(self, dann: nn.Module) -> None:
        super().__init__()
        layer = dann.dendritic
        self.w = nn.Parameter(layer.dense_weight().clone())
        self.register_buffer("mask", layer.connection_mask().float())
        self.b, self.sw, self.sb = (
            nn.Parameter(p.detach().clone()) for p in (layer.dendrite_bias, layer.soma_weight[:, 0], layer.soma_bias)
        )
        self.out = dann.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = F.relu(x @ (self.w * self.mask).T + self.b)
        return self.out(F.relu(d * self.sw + self.sb))


class _Timer:
    def report(self, step, metrics):
        self.train_time = metrics["train_time_s"]


def _epoch_loop(model, data, plasticity: bool, device) -> float:
    """One epoch through core.train.train; returns its training time (evaluation excluded)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hook = None
    if plasticity:
        steps = -(-data.train_x.shape[0] // BATCH)
        hook = Plasticity(
            model.dendritic,
            opt,
            DendriticConfig().plasticity,
            steps_per_epoch=steps,
            total_steps=steps * DendriticConfig().train.epochs,
            gen=torch.Generator(device).manual_seed(0),
        )
    timer = _Timer()
    train(model, data, epochs=1, batch_size=BATCH, optimizer=opt, reporter=timer, on_step=hook)
    return timer.train_time


def _epoch_dataloader(model, data, device) -> float:
    ds = torch.utils.data.TensorDataset(data.train_x.cpu(), data.train_y.cpu())
    loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _rows(device: str, data, repeats: int) -> dict[str, float]:
    gen = lambda: torch.Generator(device).manual_seed(0)  # noqa: E731
    dann = lambda: build_model(DannConfig(), 10, gen(), device)  # noqa: E731
    dense = lambda: build_model(DannConfig(architecture="dense"), 10, gen(), device)  # noqa: E731
    cases = {
        "dANN + resampling": lambda d: _epoch_loop(dann(), d, True, device),
        "dANN vanilla": lambda d: _epoch_loop(dann(), d, False, device),
        "dANN masked-dense": lambda d: _epoch_loop(MaskedDenseDANN(dann()), d, False, device),
        "dense MLP": lambda d: _epoch_loop(dense(), d, False, device),
        "dense MLP DataLoader": lambda d: _epoch_dataloader(dense(), d, device),
    }
    small = data.subset(n_train=4096, n_test=256)
    for case in cases.values():  # warm-up: imports, allocator, kernels
        case(small)
    best = {name: float("inf") for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            best[name] = min(best[name], case(data))
    n = data.train_x.shape[0]
    return {name: n / t for name, t in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="MNIST directory (default $MNIST_DIR or data/mnist)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--subset", type=int, default=0, help="train on the first N examples only (smoke test)")
    args = ap.parse_args()
    settings = []
    for dev in args.devices.split(","):
        if dev == "cpu":
            settings += [("cpu", 1), ("cpu", os.cpu_count() or 1)]
        elif dev == "cuda" and torch.cuda.is_available():
            settings.append(("cuda", None))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
        + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU")
    )
    print(f"one MNIST epoch ({args.subset or 60000:,} samples), batch {BATCH}, Adam; best of {args.repeats}\n")
    print("| device | threads | model | samples/s | vs dense MLP |")
    print("|---|---|---|---:|---:|")
    for dev, threads in settings:
        if threads:
            torch.set_num_threads(threads)
        data = load_mnist(args.data, device=dev).subset(n_train=args.subset)
        rows = _rows(dev, data, args.repeats)
        for name, sps in rows.items():
            print(f"| {dev} | {threads or '-'} | {name} | {sps:,.0f} | {sps / rows['dense MLP']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
