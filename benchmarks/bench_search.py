"""Search throughput: finished trials per hour of the shipped studies, through the real launcher.

Each row is one real launch (``search.launch.run``: local Ray, SQLite in a temporary directory,
the study file's own experiment, sampler and search space) with only the budget, the time
window, the worker count and the population changed:

  quickstart      studies/quickstart.yaml, its own budget (12 trials), 1 and 2 workers
  imp_split       studies/imp_split.yaml for a fixed window, 1 worker, population 1 and 32
                  (32 trials trained at once in one batched model, ``resources.population``)
  overnight       studies/resample_overnight.yaml (50-epoch MNIST dANN) for a fixed window,
                  1 and 2 workers, and with plots off 1 worker one trial at a time, 1 and 2 workers
                  with population 16 (the first and second measure the service's population gain);
                  its first trial is the user's own setting, so that trial's wall time is the
                  time to the user's result on this machine

trials/h = finished (COMPLETE + PRUNED) trials × 3600 / launch wall time, where the launch wall
time includes starting Ray and the workers and, for windowed rows, the trials still running when
the window closed (a worker finishes its trial; those count as finished too).

    python benchmarks/bench_search.py                         # all rows (about 30 min on 2 cores)
    python benchmarks/bench_search.py --cases quickstart      # one case
    python benchmarks/bench_search.py --quick                 # smoke run: tiny budgets and windows
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere without installing

from search.launch.command import run  # noqa: E402
from search.store import read_record  # noqa: E402
from search.studyfile.spec import parse_spec  # noqa: E402

# case → (study file, rows of (label, workers, population))
CASES = {
    "quickstart": ("studies/quickstart.yaml", [("1 worker", 1, 1), ("2 workers", 2, 1)]),
    "imp_split": ("studies/imp_split.yaml", [("1 worker", 1, 1), ("1 worker, population 32", 1, 32)]),
    "overnight": (
        "studies/resample_overnight.yaml",
        [
            ("1 worker", 1, 1),
            ("2 workers", 2, 1),
            ("1 worker, no plots", 1, 0),
            ("1 worker, population 16", 1, 16),
            ("2 workers, population 16", 2, 16),
        ],
    ),
}
BUDGETED = {"quickstart"}  # the others run for a window


def _doc(case: str, tmp: str, *, workers: int, population: int, budget: int | None, window_s: float) -> dict:
    path, _rows = CASES[case]
    doc = yaml.safe_load((ROOT / path).read_text())
    study = doc["study"]
    study.update(
        name=f"bench-{case}-{uuid.uuid4().hex[:8]}", storage=f"sqlite:///{tmp}/study.db", artifacts=f"{tmp}/artifacts"
    )
    if case in BUDGETED:  # the file's own budget (or a smaller one), no time limit
        study["n_trials"], study["timeout"] = budget or study["n_trials"], None
    else:
        study["n_trials"], study["timeout"] = None, window_s
    resources = doc.setdefault("resources", {})
    resources.update(workers=workers, cpus_per_trial=1, gpus_per_trial=0)
    if population != 1:  # 0: one trial at a time, but without figures, like a population
        resources["population"] = max(1, population)
        if doc["experiment"]["kind"] == "dendritic":
            doc["experiment"]["plots"] = False
        else:
            doc["experiment"].setdefault("analysis", {}).update(plots=False, trajectories=False)
    return doc


def measure(case: str, label: str, *, workers: int, population: int, budget: int | None, window_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec = parse_spec(_doc(case, tmp, workers=workers, population=population, budget=budget, window_s=window_s))
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            result = run(spec)
        wall = time.perf_counter() - started
        trials = optuna.load_study(study_name=spec.study.name, storage=spec.study.storage).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    times = [w for w in (read_record(t).wall_time_s for t in finished) if w is not None]
    first = next((t for t in trials if t.number == 0), None)
    first_wall = read_record(first).wall_time_s if first else None
    return {
        "case": case,
        "label": label,
        "code": result.code,
        "finished": len(finished),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "wall_s": wall,
        "per_hour": len(finished) * 3600 / wall,
        "median_trial_s": statistics.median(times) if times else float("nan"),
        "first_trial_s": first_wall if first_wall is not None else float("nan"),
        "best": max((t.value for t in trials if t.state == TrialState.COMPLETE), default=float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument("--imp-window", type=float, default=180, help="seconds per imp_split row (default 180)")
    p.add_argument(
        "--overnight-window",
        type=float,
        default=420,
        help="seconds per overnight row (default 420: a few 50-epoch trials per worker)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 2-trial budget, 20 s windows")
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        print(f"error: --cases: unknown case {unknown[0]!r}; expected one of {', '.join(CASES)}", file=sys.stderr)
        return 2
    import torch

    if not os.environ.get("MNIST_DIR") and (ROOT.parent / "shared" / "data" / "mnist").is_dir():
        os.environ["MNIST_DIR"] = str(ROOT.parent / "shared" / "data" / "mnist")  # Ray's workers inherit it
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, Optuna {optuna.__version__}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print("| study | run | trials/h | finished | failed | launch wall s | median trial s | first trial s | best |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        for label, workers, population in CASES[case][1]:
            if args.quick:
                budget, window = 2, 20.0
            else:
                budget, window = None, args.imp_window if case == "imp_split" else args.overnight_window
            r = measure(case, label, workers=workers, population=population, budget=budget, window_s=window)
            print(
                f"| {case} | {label} | {r['per_hour']:,.0f} | {r['finished']} | {r['failed']} | "
                f"{r['wall_s']:.0f} | {r['median_trial_s']:.1f} | {r['first_trial_s']:.1f} | {r['best']:.4g} |",
                flush=True,
            )
            if r["code"] != 0:
                print(f"error: the launch of {case} ({label}) exited {r['code']}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
