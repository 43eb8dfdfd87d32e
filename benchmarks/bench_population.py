"""IMP-on-moons trials per hour: one trial at a time vs a population trained as one batched model.

    nice -n 10 .venv/bin/python benchmarks/bench_population.py [--sizes 1,8,32,64] [--seq-trials 8]
        [--threads 1,0] [--devices cpu,cuda] [--modes bmm,vmap]

The trials are the ``studies/imp_split.yaml`` experiment (two concatenated moons, 1000 rows,
a (16, 16) MLP, Adam, batch 64, up to 100 epochs with patience 10, 6 IMP levels) with a
seeded sample of what that study searches: seed, learning rate, target count, scope, bias
pruning and rewinding step. Plots, trajectories and checkpoints are off in both paths (they
cost the same per trial either way). Rows:

  sequential     ``experiment.run`` on one config after another (the unbatched reference)
  population P   ``experiment.run_population`` on the first P configs at once

trials/hour = trials / wall time; the ratio is the time the same trials took one at a time
(sequential, same device, first thread count) over the population's time. The same per
CPU-second of this process (``time.process_time``), which a machine shared with other jobs
disturbs less than wall time. Members that overlap with the sequential
run are checked for identical metrics.
Memory per member: the exact bytes of the stacked tensors (parameters, masks, gradients,
Adam state, best copy, data) plus an activation estimate; on CUDA also the measured peak
``torch.cuda.max_memory_allocated`` slope between two population sizes.
``threads 0`` means all cores. CPU threads are set per row with ``torch.set_num_threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from core import get_experiment  # noqa: E402
from core.config import from_dict  # noqa: E402
from core.contract import NullReporter, RunContext  # noqa: E402
from core.experiments.imp_population import run_imp_population_experiment  # noqa: E402
from core.lottery.config import ImpConfig  # noqa: E402


def trial_configs(n: int) -> list[ImpConfig]:
    """``n`` configs of the imp_split experiment, hyperparameters drawn from its search space."""
    rng = random.Random(0)
    out = []
    for seed in range(n):
        out.append(
            from_dict(
                ImpConfig,
                {
                    "seed": seed,
                    "data": {"task": "moons", "k": 2, "n_samples": 1000, "noise": 0.1},
                    "model": {"widths": [16, 16]},
                    "train": {
                        "optimizer": "adam",
                        "lr": 10 ** rng.uniform(-3, -1.3),
                        "batch_size": 64,
                        "max_epochs": 100,
                        "patience": 10,
                    },
                    "imp": {
                        "levels": 6,
                        "target_params": int(round(10 ** rng.uniform(1, 2.3))),
                        "scope": rng.choice(["global", "layer"]),
                        "prune_bias": rng.choice([False, True]),
                        "rewind_step": rng.choice([0, 20, 100]),
                    },
                    "analysis": {"plots": False, "trajectories": False},
                    "checkpoint": False,
                },
            )
        )
    return out


def _threads(n: int) -> int:
    return n or os.cpu_count() or 1


def run_sequential(cfgs, device: str, threads: int, workdir: Path) -> tuple[float, list]:
    exp = get_experiment("imp")
    ctx = RunContext(device=device, workdir=workdir, threads=_threads(threads))
    walls, cpus, results = [], [], []
    for cfg in cfgs:
        t, c = time.perf_counter(), time.process_time()
        results.append(exp.run(cfg, NullReporter(), ctx))
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return walls, cpus, results


def run_population(cfgs, device: str, threads: int, workdir: Path, mode: str):
    """(wall s, CPU s, results, CUDA peak bytes or 0) of one population."""
    ctx = RunContext(device=device, workdir=workdir, threads=_threads(threads))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t, c = time.perf_counter(), time.process_time()
    results = run_imp_population_experiment(cfgs, [NullReporter()] * len(cfgs), ctx, mode=mode)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    return time.perf_counter() - t, time.process_time() - c, results, peak


def member_bytes(cfg: ImpConfig) -> dict[str, int]:
    """Bytes one member holds on the device while training (float32 values, int64 labels)."""
    sizes = [2 * cfg.data.k, *cfg.model.widths, 2 * cfg.data.k]
    n_param = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    # parameters, masks, gradients, Adam's two moments, the best-so-far copy, the masked weights
    state = n_param * 4 * 7
    # masks and trained values of every level, kept for the analysis and the trajectories
    history = (cfg.imp.levels + 1) * 2 * n_param * 4
    row = sizes[0] * 4 + cfg.data.k * 8
    n_train = (
        cfg.data.n_samples
        - int(round(cfg.data.val_frac * cfg.data.n_samples))
        - int(round(cfg.data.test_frac * cfg.data.n_samples))
    )
    data = (cfg.data.n_samples + n_train) * row  # all splits, plus the epoch's shuffled training copy
    # activations kept for backward (pre- and post-activation per layer) and their gradients for
    # one batch, plus one validation forward
    n_val = int(round(cfg.data.val_frac * cfg.data.n_samples))
    acts = 4 * (3 * cfg.train.batch_size + n_val) * sum(sizes)
    return {
        "state": state,
        "history": history,
        "data": data,
        "activations": acts,
        "total": state + history + data + acts,
    }


def _seq_time(times: list[float], p: int) -> float:
    """Time the first ``p`` trials took one at a time (extrapolated from the mean beyond the list)."""
    return sum(times[:p]) + max(0, p - len(times)) * sum(times) / len(times)


def _same(a, b) -> bool:
    return not isinstance(b, BaseException) and all(
        a.metrics[k] == b.metrics[k] for k in a.metrics if k != "wall_time_s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,8,32,64")
    ap.add_argument("--seq-trials", type=int, default=8)
    ap.add_argument("--threads", default="1,0", help="CPU thread counts; 0 = all cores")
    ap.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="bmm", help="population layer formulations: bmm, vmap")
    ap.add_argument("--workdir", default="runs/bench_population")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cfgs = trial_configs(max(sizes + [args.seq_trials]))
    work = Path(args.workdir)
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            }
        )
    )
    mem = member_bytes(cfgs[0])
    print(json.dumps({"member_bytes_estimate": mem}))
    rows = []
    for device in args.devices.split(","):
        thread_list = [int(t) for t in args.threads.split(",")] if device == "cpu" else [1]
        base = cpu_base = None
        for threads in thread_list:
            walls, cpus, ref = run_sequential(cfgs[: args.seq_trials], device, threads, work / "seq")
            wall, cpu = sum(walls), sum(cpus)
            rate, cpu_rate = args.seq_trials / wall * 3600, args.seq_trials / cpu * 3600
            if base is None:  # one thread: the baseline of every ratio on this device
                base_walls, base_cpus = walls, cpus
                base, cpu_base = rate, cpu_rate
            row = {
                "device": device,
                "threads": _threads(threads),
                "run": "sequential",
                "P": 1,
                "trials": args.seq_trials,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "trials_per_h": round(rate),
                "ratio": round(rate / base, 2),
                "trials_per_cpu_h": round(cpu_rate),
                "cpu_ratio": round(cpu_rate / cpu_base, 2),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
            for mode in args.modes.split(","):
                for p in sizes:
                    wall, cpu, res, peak = run_population(cfgs[:p], device, threads, work / "pop", mode)
                    rate, cpu_rate = p / wall * 3600, p / cpu * 3600
                    # Trials differ in length: compare with the same trials run one at a time
                    # (their mean rate when the sequential run covered fewer than p).
                    seq_wall, seq_cpu = _seq_time(base_walls, p), _seq_time(base_cpus, p)
                    n_cmp = min(p, args.seq_trials)
                    same = all(_same(a, b) for a, b in zip(ref[:n_cmp], res[:n_cmp]))
                    row = {
                        "device": device,
                        "threads": _threads(threads),
                        "run": f"population {mode}",
                        "P": p,
                        "trials": p,
                        "wall_s": round(wall, 2),
                        "cpu_s": round(cpu, 2),
                        "trials_per_h": round(rate),
                        "ratio": round(seq_wall / wall, 2),
                        "trials_per_cpu_h": round(cpu_rate),
                        "cpu_ratio": round(seq_cpu / cpu, 2),
                        "identical_to_sequential": same,
                        "compared": n_cmp,
                        "errors": sum(isinstance(r, BaseException) for r in res),
                    }
                    if peak:
                        row["cuda_peak_bytes"] = peak
                        row["cuda_peak_bytes_per_member"] = peak // p
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    print(
        "\n| device | threads | run | P | wall s | trials/h | × seq | CPU s | trials/CPU-h | × seq (CPU) | identical |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['device']} | {r['threads']} | {r['run']} | {r['P']} | {r['wall_s']} "
            f"| {r['trials_per_h']} "
            f"| {r['ratio']} | {r['cpu_s']} | {r['trials_per_cpu_h']} | {r['cpu_ratio']} "
            f"| {r.get('identical_to_sequential', '')} |"
        )


if __name__ == "__main__":
    main()
