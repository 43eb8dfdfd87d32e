"""Dendritic trials per CPU-hour: one trial at a time vs a population trained as one batched model.

    nice -n 10 .venv/bin/python benchmarks/bench_dendritic_population.py [--sizes 1,4,8,16,32]
        [--seq-trials 16] [--epochs 3] [--threads 1,0] [--devices cpu,cuda]

The trials are the ``studies/resample_overnight.yaml`` experiment (the user's 3,722-parameter
dANN on full MNIST, batch 128, Adam) with a seeded sample of what that study searches (p,
schedule, every_steps, interval growth, criterion, growth rule, new-weight init, cool-down,
learning rate); trial 0 is the study's enqueued first trial (the user's own setting). Every
trial has ``--epochs`` epochs instead of 50: an epoch costs the same at every point of a run
(the same steps, the same evaluation of the full train and test sets), so trials per hour at
50 epochs are these figures divided by 50 / epochs (setup, < 0.1 s a trial, is the only
part that does not scale). Plots off in both paths. Rows, per thread count, in one process:

  sequential     ``experiment.run`` on the first ``--seq-trials`` configs, one after another
  population P   ``experiment.run_population`` on the first P configs at once

× sequential = (sequential time per trial) / (population time per trial), in wall time and in
CPU time of this process (``time.process_time``: steadier on a shared machine). Members that
the sequential row also ran are compared: "identical" means every final metric except the
clocks (``wall_time_s``, ``train_time_s``) is equal (``==``). On CUDA the peak
``torch.cuda.max_memory_allocated`` of each population is printed, and per member.
``threads 0`` means all cores. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere without installing

from core import get_experiment  # noqa: E402
from core.config import from_dict, replace_paths  # noqa: E402
from core.contract import NullReporter, RunContext  # noqa: E402

STUDY = ROOT / "studies" / "resample_overnight.yaml"
CLOCKS = ("wall_time_s", "train_time_s")


def _draw(rng: random.Random, space: dict) -> object:
    """One value from a study-file search-space entry (float/int with log or step, categorical)."""
    if space["type"] == "categorical":
        return rng.choice(space["choices"])
    lo, hi = space["low"], space["high"]
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if space.get("log") else rng.uniform(lo, hi)
    if space["type"] == "int":
        step = space.get("step", 1)
        return int(min(hi, lo + round((x - lo) / step) * step))
    return x


def trial_configs(n: int, epochs: int, seeds: int = 1, study: Path = STUDY) -> list:
    """``n`` configs of the overnight study: its enqueued first trial, then seeded draws of its space;
    trial i has seed ``i % seeds`` (a study's trials share its seed; replicates add seeds 1, 2, ...)."""
    doc = yaml.safe_load(Path(study).read_text())
    exp = doc["experiment"]
    base = from_dict(
        get_experiment(exp["kind"]).config_cls, {k: v for k, v in exp.items() if k != "kind"} | {"plots": False}
    )
    rng = random.Random(0)
    out = []
    for i in range(n):
        values = (
            dict(doc["study"]["enqueue"][0])
            if i == 0
            else {path: _draw(rng, s) for path, s in doc["search_space"].items()}
        )
        values.update({"seed": i % seeds, "train.epochs": epochs})
        out.append(replace_paths(base, values))
    return out


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _timeless(metrics) -> dict:
    return {k: v for k, v in metrics.items() if k not in CLOCKS}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def bench(
    device: str,
    threads: int,
    sizes: list[int],
    seq_trials: int,
    epochs: int,
    data_dir: str | None,
    seeds: int,
    study: Path = STUDY,
    curves: bool = True,
) -> None:
    torch.set_num_threads(threads or os.cpu_count() or 1)
    exp = get_experiment("dendritic")
    configs = [
        replace_paths(c, {"curves": curves}) for c in trial_configs(max(max(sizes), seq_trials), epochs, seeds, study)
    ]
    ctx = RunContext(device=device, data_dir=Path(data_dir) if data_dir else None, workdir=Path("runs/bench"))
    exp.run(replace_paths(configs[0], {"train.epochs": 1, "train.train_subset": 256}), NullReporter(), ctx)  # warm-up
    seq, wall, cpu = _timed(lambda: [exp.run(c, NullReporter(), ctx).metrics for c in configs[:seq_trials]])
    per_wall, per_cpu = wall / seq_trials, cpu / seq_trials
    label = f"{device}, {torch.get_num_threads()} thread(s), {seeds} seed(s), curves {'on' if curves else 'off'}"
    print(
        f"| {label} | sequential `run` | 1 | {wall:.1f} | {3600 / per_wall:,.0f} | 1.0 | {cpu:.1f} | "
        f"{3600 / per_cpu:,.0f} | 1.0 | (reference, {seq_trials} trials) | |",
        flush=True,
    )
    for p in sizes:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        out, w, c = _timed(lambda p=p: exp.run_population(configs[:p], [NullReporter()] * p, ctx))
        errors = [r for r in out if isinstance(r, BaseException)]
        if errors:
            raise RuntimeError(f"population {p}: {errors[0]!r}")
        shared = min(p, seq_trials)
        same = sum(_same(_timeless(seq[i]), _timeless(out[i].metrics)) for i in range(shared))
        mem = ""
        if device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() / 2**20
            mem = f"{peak:,.0f} MiB ({peak / p:,.1f} MiB/member)"
        print(
            f"| {label} | population | {p} | {w:.1f} | {3600 * p / w:,.0f} | {per_wall * p / w:.1f} | {c:.1f} | "
            f"{3600 * p / c:,.0f} | {per_cpu * p / c:.1f} | {same} of {shared} | {mem} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,8,16,32", help="population sizes (default 1,4,8,16,32)")
    ap.add_argument("--seq-trials", type=int, default=16, help="trials run one at a time as the baseline")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per trial instead of 50 (default 3)")
    ap.add_argument("--threads", default="1,0", help="CPU thread counts, 0 = all cores (default 1,0)")
    ap.add_argument(
        "--seeds", default="1,3", help="distinct seeds among the trials, trial i has seed i %% S (default 1,3)"
    )
    ap.add_argument("--devices", default="cpu", help="cpu, cuda or both (default cpu)")
    ap.add_argument(
        "--curves",
        default="on",
        help="on: full train/test passes every epoch (core.run); off: validation only until the last epoch "
        "(a search trial); on,off: both, side by side (default on)",
    )
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DIR"), help="MNIST directory (default $MNIST_DIR)")
    ap.add_argument(
        "--study",
        type=Path,
        default=STUDY,
        help="study file whose search space the trials sample (default %(default)s)",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f}; {args.epochs} epochs per trial"
    )
    if "cuda" in args.devices and torch.cuda.is_available():
        print(f"# GPU: {torch.cuda.get_device_name()}")
    print(
        "| device, threads | run | P | wall s | trials/h (wall) | × seq (wall) | CPU s | trials/CPU-h | "
        "× seq (CPU) | identical | peak GPU memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for device in args.devices.split(","):
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"# {device}: no CUDA device", file=sys.stderr)
            return 1  # a benchmark asked for a GPU it has not: a failure, never a silent skip
        for threads in (int(t) for t in args.threads.split(",")):
            for seeds in (int(s) for s in args.seeds.split(",")):
                for curves in args.curves.split(","):
                    bench(
                        device,
                        threads,
                        sizes,
                        args.seq_trials,
                        args.epochs,
                        args.data_dir,
                        seeds,
                        args.study,
                        curves == "on",
                    )
    print(f"# load average after: {os.getloadavg()[0]:.2f}; trials/h at 50 epochs = these / {50 / args.epochs:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
