"""Timing and result runs of the ``imp`` experiment (not a test; run with ``nice``).

    nice -n 10 .venv/bin/python benchmarks/bench_imp.py trial            # one default trial, timed
    nice -n 10 .venv/bin/python benchmarks/bench_imp.py split --seeds 3   # split vs noise, seeds
    nice -n 10 .venv/bin/python benchmarks/bench_imp.py file studies/experiments/lenet_imp.yaml \
        --out runs/lenet_imp_s0 [--set seed=1 ...]                      # one run, per-level timing

``file`` writes ``levels.jsonl`` (one line per level as it finishes, with wall-clock seconds)
and ``result.json`` under ``--out``; the LeNet table in docs/results/imp.md comes from them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import get_experiment  # noqa: E402
from core.config import config_hash, from_dict, replace_path, to_dict  # noqa: E402
from core.contract import NullReporter, RunContext  # noqa: E402
from core.yamlfile import parse_yaml, read_yaml  # noqa: E402


class _JsonlReporter:
    """Appends each level's metrics with the elapsed time to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path, self.t0 = path, time.perf_counter()

    def report(self, step: int, metrics) -> None:
        row = {"level": step, "elapsed_s": round(time.perf_counter() - self.t0, 1), **metrics}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def _trial(args) -> None:
    exp = get_experiment("imp")
    cfg = exp.default_config()
    for repeat in range(args.repeat):
        t = time.perf_counter()
        r = exp.run(cfg, NullReporter(), RunContext(workdir=Path(args.out) / f"trial{repeat}", threads=1))
        wall = time.perf_counter() - t
        print(json.dumps({"wall_s": round(wall, 2), **{k: round(v, 4) for k, v in r.metrics.items()}}))


def _split(args) -> None:
    """Default trial over seeds × noise levels: where does it split, and is it still a ticket?"""
    exp = get_experiment("imp")
    base = replace_path(replace_path(exp.default_config(), "analysis.plots", False), "analysis.trajectories", False)
    base = replace_path(replace_path(base, "imp.levels", args.levels), "imp.target_params", args.target)
    rows = []
    for noise in args.noise:
        for seed in range(args.seeds):
            cfg = replace_path(replace_path(base, "data.noise", noise), "seed", seed)
            t = time.perf_counter()
            r = exp.run(cfg, NullReporter(), RunContext(workdir=Path(args.out) / f"n{noise}_s{seed}", threads=1))
            m = r.metrics
            rows.append(
                {
                    "noise": noise,
                    "seed": seed,
                    "wall_s": round(time.perf_counter() - t, 1),
                    **{
                        k: round(m[k], 4)
                        for k in (
                            "val_dense_acc",
                            "test_dense_acc",
                            "split_level",
                            "split_params",
                            "val_split_min_task_acc",
                            "test_split_min_task_acc",
                            "still_ticket",
                            "split_ticket",
                            "test_acc",
                            "test_min_task_acc",
                            "max_zombies",
                            "max_comatose",
                        )
                    },
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "split_sweep.json").write_text(json.dumps(rows, indent=1))


def _file(args) -> None:
    data = dict(read_yaml(args.file))
    exp = get_experiment(data.pop("kind"))
    cfg = from_dict(exp.config_cls, data)
    for item in args.overrides:
        key, _, value = item.partition("=")
        cfg = replace_path(cfg, key, parse_yaml(value))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    r = exp.run(cfg, _JsonlReporter(out / "levels.jsonl"), RunContext(workdir=out, threads=args.threads))
    result = {
        "config_hash": config_hash(cfg),
        "config": to_dict(cfg),
        "wall_s": round(time.perf_counter() - t, 1),
        "machine": f"{platform.machine()}, {args.threads} torch thread(s)",
        "metrics": dict(r.metrics),
        "history": r.extra.get("history", []),
        "artifacts": {k: str(v) for k, v in r.artifacts.items()},
    }
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["metrics"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trial")
    t.add_argument("--out", default="runs/bench_imp")
    t.add_argument("--repeat", type=int, default=3)
    f = sub.add_parser("file")
    f.add_argument("file")
    f.add_argument("--out", required=True)
    f.add_argument("--threads", type=int, default=1)
    f.add_argument("--set", action="append", default=[], dest="overrides")
    sp = sub.add_parser("split")
    sp.add_argument("--out", default="runs/bench_imp_split")
    sp.add_argument("--seeds", type=int, default=3)
    sp.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1])
    sp.add_argument("--levels", type=int, default=8)
    sp.add_argument("--target", type=int, default=24)
    args = p.parse_args()
    {"trial": _trial, "file": _file, "split": _split}[args.cmd](args)


if __name__ == "__main__":
    main()
