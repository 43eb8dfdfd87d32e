"""This service against its obvious peer: the same dendritic study as plain Optuna processes.

Both sides run `studies/resample_overnight_population.yaml` with one seed per trial (as a plain
Optuna user would), the same TPE sampler and Hyperband pruner (made from the study file), the same
search space and the user's settings enqueued first, for the same wall-clock window, one after the
other on the same machine:

  plain Optuna   N processes (default 2, one per core), each ``study.optimize(objective,
                 timeout=window)`` on one shared SQLite study, one trial at a time; the objective
                 is what a user writes: suggest from the space, ``core``'s ``run_dendritic`` with a
                 reporter that calls ``trial.report(val_acc, epoch)`` and ``should_prune`` every epoch
  this service   ``search.launch`` with the file's workers and population (trials trained at once in
                 one batched model, validation per epoch and train/test after the last)

Printed per side: trials finished (COMPLETE + PRUNED), epochs trained (every reported epoch of every
trial), epochs per minute, and the best validation accuracy of a COMPLETE trial at fixed minutes.

    MNIST_DIR=... python benchmarks/bench_vs_optuna.py --window 20m      # the issue's 20-minute launches
    MNIST_DIR=... python benchmarks/bench_vs_optuna.py --quick           # smoke run: 2 epochs, 20 s
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import platform
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

from search.studyfile import load_spec, make_pruner, make_sampler, parse_duration, parse_spec, suggest  # noqa: E402

STUDY = ROOT / "studies" / "resample_overnight_population.yaml"


def _doc(tmp: str, window_s: float, quick: bool) -> dict:
    doc = yaml.safe_load(STUDY.read_text())
    doc["study"].update(
        name=f"vs-optuna-{uuid.uuid4().hex[:8]}",
        storage=f"sqlite:///{tmp}/study.db",
        artifacts=f"{tmp}/artifacts",
        replicates=1,
        n_trials=None,
        timeout=window_s,
    )
    doc.pop("confirm", None)
    if quick:
        doc["experiment"]["train"].update(epochs=2, train_subset=2000, test_subset=500)
        doc["experiment"]["data"]["val_size"] = 1000
        doc["study"]["pruner"] = {"name": "hyperband", "min_resource": 1, "max_resource": 2, "reduction_factor": 3}
        if "train.warmup_epochs" in doc["search_space"]:  # a warm-up may not outlast the 2 epochs
            doc["search_space"]["train.warmup_epochs"]["high"] = 1.0
    return doc


class _OptunaReporter:
    """What a plain Optuna user writes: report the objective each epoch, stop when pruned."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def report(self, step: int, metrics) -> None:
        self.trial.report(metrics[self.metric], step)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def _plain_process(doc: dict, window_s: float, seed: int) -> None:
    from core.config import replace_paths
    from core.contract import RunContext
    from core.experiments.dendritic import run_dendritic

    spec = parse_spec(doc)
    sampler = make_sampler({**spec.study.sampler, "seed": seed})
    study = optuna.load_study(
        study_name=spec.study.name, storage=spec.study.storage, sampler=sampler, pruner=make_pruner(spec.study.pruner)
    )
    metric = spec.study.metrics[0]
    ctx = RunContext(device="cpu", threads=1, data_dir=Path(os.environ["MNIST_DIR"]))

    def objective(trial: optuna.Trial) -> float:
        config = replace_paths(spec.experiment, {p.name: suggest(trial, p) for p in spec.search_space})
        return run_dendritic(config, _OptunaReporter(trial, metric), ctx).metrics[metric]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, timeout=window_s)


def _summary(study: optuna.Study, start: float, wall: float, minutes: list[float]) -> dict:
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    epochs = sum(len(t.intermediate_values) for t in trials)
    best = []
    for m in minutes:
        done = [
            t for t in trials if t.state == TrialState.COMPLETE and t.datetime_complete.timestamp() - start <= m * 60
        ]
        best.append(max((t.value for t in done), default=float("nan")))
    return {"finished": len(finished), "epochs": epochs, "per_min": epochs * 60 / wall, "wall": wall, "best": best}


def plain_optuna(window_s: float, processes: int, minutes: list[float], quick: bool) -> dict:
    from search.launch import prepare_study

    with tempfile.TemporaryDirectory() as tmp:
        doc = _doc(tmp, window_s, quick)
        study = prepare_study(parse_spec(doc))  # creates it and enqueues the user's settings
        start = time.time()
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_plain_process, args=(doc, window_s, i)) for i in range(processes)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return _summary(study, start, time.time() - start, minutes)


def service(window_s: float, minutes: list[float], quick: bool) -> dict:
    from search.launch.command import run

    with tempfile.TemporaryDirectory() as tmp:
        spec = parse_spec(_doc(tmp, window_s, quick))
        start = time.time()
        with contextlib.redirect_stdout(io.StringIO()):
            result = run(spec)
        wall = time.time() - start
        if result.code != 0:
            raise RuntimeError(f"the launch exited {result.code}")
        return _summary(optuna.load_study(study_name=spec.study.name, storage=spec.study.storage), start, wall, minutes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--window", default="20m", help="wall-clock window per side, e.g. 600s or 20m (default 20m)")
    p.add_argument("--processes", type=int, default=2, help="plain Optuna processes (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2-epoch trials on a subset, 20 s windows")
    args = p.parse_args(argv)
    if not os.environ.get("MNIST_DIR") and (ROOT.parent / "shared" / "data" / "mnist").is_dir():
        os.environ["MNIST_DIR"] = str(ROOT.parent / "shared" / "data" / "mnist")
    if not os.environ.get("MNIST_DIR"):
        print("error: MNIST_DIR: expected the directory of the MNIST files", file=sys.stderr)
        return 2
    window = 20.0 if args.quick else parse_duration(args.window, "--window")
    minutes = [m for m in (1, 2, 5, 10, 15, 20, 30, 60) if m * 60 <= window] or [window / 60]
    spec = load_spec(STUDY)
    import torch

    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}, "
        f"Optuna {optuna.__version__}, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f}; "
        f"{window:.0f} s per side; service: {spec.resources.workers} workers x population {spec.resources.population}"
    )
    head = " | ".join(f"best at {m:g} min" for m in minutes)
    print(f"| run | trials finished | epochs | epochs/min | × plain | {head} |")
    print("|---|---|---|---|---|" + "---|" * len(minutes))
    plain = plain_optuna(window, args.processes, minutes, args.quick)
    ours = service(window, minutes, args.quick)
    for label, r in ((f"plain Optuna, {args.processes} processes", plain), ("this service", ours)):
        best = " | ".join(f"{b:.4f}" for b in r["best"])
        ratio = r["per_min"] / plain["per_min"] if plain["per_min"] else float("nan")
        print(f"| {label} | {r['finished']} | {r['epochs']} | {r['per_min']:.1f} | {ratio:.2f} | {best} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
