"""Speed of one IMP level on concatenated moons against a plain dense PyTorch MLP.

    python benchmarks/bench_imp_level.py [--epochs 20] [--repeats 3] [--devices cpu,cuda]

The data and network are those of ``studies/imp_split.yaml`` (two concatenated moons, 1000
rows, a (16, 16) MLP, Adam, batch 64). Rows, in one process on the same tensors, each training
``--epochs`` epochs with a validation pass after each epoch (as IMP's early stopping needs):

  IMP level (core)        ``core.lottery.train.train_level`` on the masked MLP, a pruned mask
  dense MLP, same loop    ``nn.Sequential`` of ``nn.Linear`` layers, the same index-batch loop
  dense MLP, DataLoader   the same MLP fed by a standard ``DataLoader`` (shuffle, num_workers=0)

CPU with 1 thread and with all threads; CUDA when available. Each row is the best of
``--repeats``, rows interleaved so that background load hits them alike. samples/s counts
training rows (epochs × rows / seconds). Population training (many trials in one model) is
``bench_population.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core.config import from_dict  # noqa: E402
from core.contract import RunContext  # noqa: E402
from core.experiments.imp import build_data, build_model  # noqa: E402
from core.lottery.config import ImpConfig  # noqa: E402
from core.lottery.train import evaluate, task_loss, train_level  # noqa: E402

CONFIG = {
    "seed": 0,
    "data": {"task": "moons", "k": 2, "n_samples": 1000, "noise": 0.1},
    "model": {"widths": [16, 16]},
    "train": {"optimizer": "adam", "lr": 0.01, "batch_size": 64},
    "imp": {"levels": 6, "target_params": 40},
}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _core(cfg: ImpConfig, data, epochs: int, device: str) -> float:
    model = build_model(cfg, data).to(device)
    for w, m in zip((layer.weight for layer in model.layers), model.weight_masks()):
        m.copy_((torch.rand_like(w) < 0.3).float())  # a pruned level: ~30 % of the weights left
    model.apply_masks()
    train = dataclasses.replace(cfg.train, max_epochs=epochs, patience=epochs + 1)  # no early stop
    t0 = time.perf_counter()
    train_level(model, data, train, seed=0)
    _sync(device)
    return time.perf_counter() - t0


def _dense(cfg: ImpConfig, data, device: str) -> nn.Module:
    torch.manual_seed(cfg.seed)
    sizes = [data.layout.n_in, *cfg.model.widths, data.layout.n_out]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).to(device)


def _step(model, opt, x, y, layout) -> None:
    loss = task_loss(model(x), y, layout)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _dense_loop(cfg: ImpConfig, data, epochs: int, device: str) -> float:
    model = _dense(cfg, data, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    gen, batch = torch.Generator().manual_seed(0), cfg.train.batch_size
    x, y, n = data.train.x, data.train.y, len(data.train.x)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen).to(x.device)
        for b in range(0, n, batch):
            idx = order[b : b + batch]
            _step(model, opt, x[idx], y[idx], data.layout)
        evaluate(model, data.val, data.layout)
    _sync(device)
    return time.perf_counter() - t0


def _dense_dataloader(cfg: ImpConfig, data, epochs: int, device: str) -> float:
    model = _dense(cfg, data, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    ds = torch.utils.data.TensorDataset(data.train.x.cpu(), data.train.y.cpu())
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.train.batch_size, shuffle=True, num_workers=0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            _step(model, opt, x.to(device, non_blocking=True), y.to(device, non_blocking=True), data.layout)
        evaluate(model, data.val, data.layout)
    _sync(device)
    return time.perf_counter() - t0


ROWS = {"IMP level (core)": _core, "dense MLP, same loop": _dense_loop, "dense MLP, DataLoader": _dense_dataloader}


def measure(device: str, epochs: int, repeats: int) -> dict[str, float]:
    cfg = from_dict(ImpConfig, CONFIG)
    data = build_data(cfg, RunContext(device=device))
    for fn in ROWS.values():  # warm-up: allocator, kernels
        fn(cfg, data, 1, device)
    best = {name: float("inf") for name in ROWS}
    for _ in range(repeats):
        for name, fn in ROWS.items():
            best[name] = min(best[name], fn(cfg, data, epochs, device))
    return {name: len(data.train.x) * epochs / t for name, t in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--devices", default="cpu,cuda")
    args = p.parse_args(argv)
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {args.epochs} epochs, best of {args.repeats}"
    )
    print("| device | threads | row | samples/s | × DataLoader MLP |")
    print("|---|---|---|---|---|")
    runs = []
    for device in args.devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        runs += [(device, t) for t in (sorted({1, os.cpu_count() or 1}) if device == "cpu" else [os.cpu_count() or 1])]
    for device, threads in runs:
        torch.set_num_threads(threads)
        rates = measure(device, args.epochs, args.repeats)
        base = rates["dense MLP, DataLoader"]
        for name, rate in rates.items():
            print(f"| {device} | {threads} | {name} | {rate:,.0f} | {rate / base:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
