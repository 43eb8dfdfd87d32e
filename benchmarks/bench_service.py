"""Service overhead: the share of worker wall time not spent inside the experiment.

Trials are ``synthetic`` runs of a fixed, known length (sleeps split into 5 or 10 reported
steps, so trial.report / should_prune run as in a real study), random sampler, no pruner.
For each storage backend, trial length and worker count, one real launch (local Ray,
real storage) runs ``trials_per_worker * workers`` trials; each worker reports its wall
time and the time spent inside the experiment, and the table shows 1 - busy / wall.
The storage writes and commits of one trial come first: as the service writes them (every
scalar a flat user attribute, in two transactions: ``search.store.records``), the same attributes with
one commit each (as before the lean JSON layout; patched into this process only), and Optuna's own.
(The overhead rows no longer run a "before" layout: the production path has no layout switch.)
The peers (``--peers``; ``pip install -e .[bench]``)
run the same trials through plain Optuna processes sharing the storage (``study.optimize``)
and through Ray Tune with OptunaSearch (``reuse_actors=True``, Optuna in memory), with the
same definition (benchmarks/bench_peers.py). The "storm" row runs 32 workers on PostgreSQL
with 0.2 s trials and counts storage errors.

    python benchmarks/bench_service.py --peers            # SQLite (+ PostgreSQL if configured)
    SPARSESEARCH_TEST_POSTGRES=postgresql://u:p@127.0.0.1/db python benchmarks/bench_service.py
    python benchmarks/bench_service.py --quick            # fewer, shorter rows
    python benchmarks/bench_service.py --smoke --peers    # 3 trials of 0.1 s: does it run
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
import uuid

import optuna
from bench_peers import LAYOUTS, optuna_processes, ray_tune, writes_per_trial
from optuna.trial import TrialState

from search.launch import overhead, run
from search.studyfile import parse_spec


def _spec(storage: str, artifacts: str, *, workers: int, trial_s: float, steps: int, n_trials: int):
    return parse_spec(
        {
            "study": {
                "name": f"bench-{uuid.uuid4().hex[:10]}",
                "storage": storage,
                "artifacts": artifacts,
                "direction": "minimize",
                "metric": "loss",
                "n_trials": n_trials,
                "sampler": {"name": "random", "seed": 0},
                "pruner": {"name": "none"},
            },
            "experiment": {"kind": "synthetic", "steps": steps, "step_seconds": trial_s / steps},
            "search_space": {
                "x": {"type": "float", "low": -3, "high": 3},
                "y": {"type": "float", "low": -3, "high": 3},
            },
            "resources": {"workers": workers, "cpus_per_trial": min(1.0, 2.0 / workers)},
        }
    )


def measure(storage: str, *, workers: int, trial_s: float, steps: int, per_worker: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = storage.replace("{tmp}", tmp)
        spec = _spec(
            url, f"{tmp}/artifacts", workers=workers, trial_s=trial_s, steps=steps, n_trials=per_worker * workers
        )
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            result = run(spec)
        wall = time.perf_counter() - started
        trials = optuna.load_study(study_name=spec.study.name, storage=url).get_trials(deepcopy=False)
    return {
        "workers": workers,
        "trial_s": trial_s,
        "trials": len(trials),
        "code": result.code,
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "overhead": overhead(list(result.workers)),
        "launch_s": wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 s trials only, fewer trials")
    p.add_argument("--smoke", action="store_true", help="3 trials of 0.1 s, one worker: does it run")
    p.add_argument("--peers", action="store_true", help="also plain Optuna processes and Ray Tune + OptunaSearch")
    p.add_argument("--workers", default="1,2,8", help="comma-separated worker counts (default 1,2,8)")
    args = p.parse_args()
    backends = {"sqlite": "sqlite:///{tmp}/study.db"}
    if os.environ.get("SPARSESEARCH_TEST_POSTGRES"):
        backends["postgresql"] = os.environ["SPARSESEARCH_TEST_POSTGRES"]
    rows = [(1.0, 5, 20), (10.0, 10, 3)] if not args.quick else [(1.0, 5, 8)]
    counts = tuple(int(w) for w in args.workers.split(","))
    if args.smoke:
        rows, counts = [(0.1, 2, 3)], (1,)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}, optuna {optuna.__version__}"
    )
    print("| layout | writes per trial (INSERT/UPDATE) | of which user attributes | commits per trial |")
    print("|---|---|---|---|")
    for layout in LAYOUTS:
        w = writes_per_trial(layout)
        what = "now (search.store.records, two transactions)" if layout == "batched" else "one commit per attribute"
        print(f"| {what} | {w['write']:g} | {w['attrs']:g} | {w['commit']:g} |", flush=True)
    w = writes_per_trial(None)
    print(f"| Optuna's own (plain study.optimize) | {w['write']:g} | 0 | {w['commit']:g} |", flush=True)
    print()
    print("| storage | what | trial length | workers | trials | failed | overhead | wall time |")
    print("|---|---|---|---|---|---|---|---|")
    for name, url in backends.items():
        for trial_s, steps, per_worker in rows:
            for workers in counts:
                r = measure(url, workers=workers, trial_s=trial_s, steps=steps, per_worker=per_worker)
                print(
                    f"| {name} | service | {trial_s:g} s | {workers} | {r['trials']} | {r['failed']} | "
                    f"{r['overhead']:.2%} | {r['launch_s']:.0f} s |",
                    flush=True,
                )
                if args.peers:
                    for what, peer in (("optuna processes", optuna_processes), ("ray tune + OptunaSearch", ray_tune)):
                        r = peer(url, workers=workers, trial_s=trial_s, steps=steps, per_worker=per_worker)
                        print(
                            f"| {name if peer is optuna_processes else 'memory'} | {what} | {trial_s:g} s | "
                            f"{workers} | {r['trials']} | {r['failed']} | {r['overhead']:.2%} | "
                            f"{r['launch_s']:.0f} s |",
                            flush=True,
                        )
    if "postgresql" in backends and not args.quick and not args.smoke:
        r = measure(backends["postgresql"], workers=32, trial_s=0.2, steps=2, per_worker=10)
        print(
            f"| postgresql (storm) | 0.2 s | 32 | {r['trials']} | {r['failed']} | {r['overhead']:.2%} | "
            f"{r['launch_s']:.0f} s |  exit {r['code']}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
