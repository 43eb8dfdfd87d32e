"""The GPU path on a lent GPU machine, in one run under 8 minutes: any skip, missing CUDA or step past
its time limit is a failure (exit 1), never an "ok".

    OUT=/some/dir MNIST_DIR=data/mnist python3 benchmarks/gpu_check.py

Written for the machine this project can borrow (one H100 or H200, 16 CPU cores, Python 3.12 with its
own CUDA torch, pytest, PyYAML and numpy; no network, no Ray, Optuna or pydantic): every step uses
the core only. Only the working tree travels there, so MNIST must be copied into an ignored folder
of it first (``data/mnist``, carried with the tree). Everything goes into ``$OUT``: ``gpu_check.log``
(all that is printed), ``gpu_check.json`` (the figures), and each step's own files. Steps, each
with its time limit (seconds; 445 in all, the rest of 8 minutes for start-up):

  0  machine            nvidia-smi, torch, CUDA visible (else stop: FAIL)
  1  CUDA tests (100)   the dendritic and IMP population tests on cuda, members against their runs
                        alone on the GPU (counts exact, accuracies within a tolerance); a skip fails
  2  user's run (60)    the user's 50-epoch dANN alone on cuda: wall and train time (goal < 10 s)
  3  populations (130)  trials per GPU-hour at P = 1, 16, 64, 256 with 1 and 3 seeds, the second
                        night's trial mix (mixed lr schedules), against one trial at a time on the GPU
  4  CPU cores (40)     the same mix at P = 16 on all CPU cores, for the GPU's ratio to the machine's CPUs
  5  memory (50)        peak memory per added member (slope of a fit) and the largest P before an
                        out-of-memory, which ends the series as a clear FAIL line of its own
  6  sharing (60)       1, 2 and 4 processes on the one GPU, each a population of 16: trials per GPU-hour
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("OUT") or "runs/gpu_check").resolve()
PY = sys.executable
FIGURES: dict[str, object] = {}
FAILED: list[str] = []


def say(line: str) -> None:
    print(line, flush=True)
    with open(OUT / "gpu_check.log", "a") as log:
        log.write(line + "\n")


def run(step: str, args: list[str], limit: float, out_name: str) -> tuple[int, str]:
    """Run ``args`` under ``limit`` seconds; its output goes to ``$OUT/out_name`` and is returned."""
    t0 = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=limit)
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code, text = 124, f"{err.stdout or ''}{err.stderr or ''}\n(time limit {limit:g} s)"
        text = text if isinstance(text, str) else text.decode(errors="replace")
    (OUT / out_name).write_text(text)
    say(f"--- {step}: exit {code} in {time.perf_counter() - t0:.0f} s ({out_name})")
    if code != 0:
        fail(f"{step}: exit {code}" + (" (time limit)" if code == 124 else ""))
    return code, text


def fail(what: str) -> None:
    FAILED.append(what)
    say(f"FAIL {what}")


def step0_machine() -> bool:
    say("=== 0. machine")
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    smi = subprocess.run(query if shutil.which("nvidia-smi") else ["true"], capture_output=True, text=True)
    say(f"nvidia-smi: {smi.stdout.strip() or smi.stderr.strip() or 'not found'}")
    import torch

    FIGURES["machine"] = {
        "gpu": smi.stdout.strip(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    say(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available {torch.cuda.is_available()}")
    if not torch.cuda.is_available():
        fail("no CUDA device visible to torch: nothing else can be checked")
        return False
    return True


def step1_tests() -> None:
    say("=== 1. CUDA tests (a skip is a failure)")
    xml = OUT / "cuda_tests.xml"
    tests = ["tests/core/test_dendritic_population.py", "tests/core/test_imp_population.py"]
    run(
        "CUDA tests",
        [PY, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", "cuda", *tests, f"--junitxml={xml}"],
        100,
        "cuda_tests.txt",
    )
    if xml.exists():
        import xml.etree.ElementTree as ET

        root = ET.parse(xml).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        if suite is None:
            fail("CUDA tests: no test suite in the JUnit report")
            return
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "skipped", "failures", "errors")}
        FIGURES["cuda_tests"] = counts
        say(f"CUDA tests: {counts}")
        if counts["skipped"] or counts["tests"] < 2:
            fail(f"CUDA tests: {counts['skipped']} skipped of {counts['tests']} (none may skip)")


def step2_user_run() -> None:
    say("=== 2. the user's 50-epoch run alone on cuda (goal: under 10 s)")
    out = OUT / "user_run"
    user = [
        "plasticity.p=10",
        "plasticity.schedule=root",
        "plasticity.every_steps=100",
        "train.lr=0.001",
        "plots=false",
    ]
    sets = [arg for kv in user for arg in ("--set", kv)]
    code, _ = run(
        "user's run",
        [
            PY,
            "-m",
            "core.run",
            "studies/experiments/dendritic_resample.yaml",
            "--device",
            "cuda",
            "--out",
            str(out),
            *sets,
        ],
        60,
        "user_run.txt",
    )
    if code == 0:
        m = json.loads((out / "metrics.json").read_text())["metrics"]
        FIGURES["user_run"] = {k: m[k] for k in ("wall_time_s", "train_time_s", "test_acc")}
        say(
            f"user's run on cuda: wall {m['wall_time_s']:.1f} s, train {m['train_time_s']:.1f} s, test_acc {m['test_acc']:.4f}"
        )


def step3_populations() -> None:
    say("=== 3. populations on cuda: P = 1, 16, 64, 256; 1 and 3 seeds; the second night's trial mix")
    bench = [
        PY,
        "benchmarks/bench_dendritic_population.py",
        "--study",
        "studies/resample_overnight_population.yaml",
        "--epochs",
        "2",
    ]
    code, text = run(
        "GPU populations",
        [
            *bench,
            "--devices",
            "cuda",
            "--threads",
            "0",
            "--sizes",
            "1,16,64,256",
            "--seq-trials",
            "2",
            "--seeds",
            "1,3",
        ],
        130,
        "populations_cuda.md",
    )
    FIGURES["populations_cuda"] = [line for line in text.splitlines() if line.startswith("| cuda")]
    say("step 4: the same mix at P = 16 on all CPU cores")
    _, text = run(
        "CPU populations",
        [*bench, "--devices", "cpu", "--threads", "0", "--sizes", "16", "--seq-trials", "1", "--seeds", "3"],
        40,
        "populations_cpu.md",
    )
    FIGURES["populations_cpu"] = [line for line in text.splitlines() if line.startswith("| cpu")]


MEMORY = """
import json, sys, time, torch
sys.path.insert(0, ".")
from benchmarks.bench_dendritic_population import trial_configs
from core import NullReporter, RunContext, get_experiment
from core.config import replace_paths
exp, rows, sizes = get_experiment("dendritic"), [], [16, 64, 256, 1024, 4096, 16384, 65536]
ctx = RunContext(device="cuda")
base = trial_configs(1, 1, 1)[0]
deadline = time.monotonic() + 40
for p in sizes:
    if time.monotonic() > deadline:
        print(json.dumps({"stopped": f"time, before P = {p}"})); break
    cfgs = [replace_paths(base, {"seed": i, "train.train_subset": 1280, "train.test_subset": 1024}) for i in range(p)]
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    try:
        out = exp.run_population(cfgs, [NullReporter()] * p, ctx)
    except torch.OutOfMemoryError as err:
        print(json.dumps({"oom_at": p, "error": str(err).splitlines()[0]})); break
    bad = [r for r in out if isinstance(r, BaseException)]
    if bad:
        key = "oom_at" if isinstance(bad[0], torch.OutOfMemoryError) else "error_at"
        print(json.dumps({key: p, "error": repr(bad[0])[:300]})); break
    print(json.dumps({"P": p, "peak_mib": torch.cuda.max_memory_allocated() / 2**20}), flush=True)
"""


def step5_memory() -> None:
    say("=== 5. memory per added member and the largest P before out-of-memory")
    _, text = run("memory", [PY, "-c", MEMORY], 50, "memory.jsonl")
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    points = [(r["P"], r["peak_mib"]) for r in rows if "P" in r]
    FIGURES["memory"] = rows
    if len(points) >= 2:
        import numpy as np

        slope, intercept = np.polyfit([p for p, _ in points], [m for _, m in points], 1)
        FIGURES["memory_per_member_mib"] = float(slope)
        say(f"memory: {slope:.2f} MiB per added member (+{intercept:.0f} MiB), largest P run: {points[-1][0]}")
    for r in rows:
        if "oom_at" in r:
            say(f"FAIL (expected, the end of the series) out of memory at P = {r['oom_at']}: {r['error']}")
        elif "error_at" in r:
            fail(f"memory series: an error at P = {r['error_at']} that is not an out-of-memory: {r['error']}")


SHARE = """
import sys, time
sys.path.insert(0, ".")
from benchmarks.bench_dendritic_population import trial_configs
from core import NullReporter, RunContext, get_experiment
cfgs = trial_configs(16, 1, 3, "studies/resample_overnight_population.yaml")
out = get_experiment("dendritic").run_population(cfgs, [NullReporter()] * 16, RunContext(device="cuda"))
bad = [r for r in out if isinstance(r, BaseException)]
sys.exit(1 if bad else 0)
"""


def step6_sharing() -> None:
    say("=== 6. processes sharing the GPU (what fractional gpus_per_trial do): 16 trials of 1 epoch each")
    rows = []
    for n in (1, 2, 4):
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen([PY, "-c", SHARE], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(n)
        ]
        codes = []
        for proc in procs:  # 20 s for each group of processes
            try:
                codes.append(proc.wait(timeout=max(0.1, 20 - (time.perf_counter() - t0))))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(124)
        wall = time.perf_counter() - t0
        rows.append({"processes": n, "wall_s": wall, "trials_per_gpu_hour_1_epoch": 3600 * 16 * n / wall})
        say(f"{n} process(es): {wall:.1f} s, {3600 * 16 * n / wall:,.0f} one-epoch trials per GPU-hour, exits {codes}")
        if any(codes):
            fail(f"sharing: {n} processes, exits {codes}")
    FIGURES["sharing"] = rows


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gpu_check.log").write_text("")
    os.environ.setdefault("MNIST_DIR", str(ROOT / "data" / "mnist"))
    t0 = time.perf_counter()
    say(f"# gpu_check, {time.strftime('%Y-%m-%d %H:%M')}, MNIST_DIR={os.environ['MNIST_DIR']}, OUT={OUT}")
    if step0_machine():
        for step in (step1_tests, step2_user_run, step3_populations, step5_memory, step6_sharing):
            step()
    FIGURES["failed"], FIGURES["wall_s"] = FAILED, time.perf_counter() - t0
    (OUT / "gpu_check.json").write_text(json.dumps(FIGURES, indent=2))
    say(f"# {'FAILED: ' + '; '.join(FAILED) if FAILED else 'all steps passed'} ({FIGURES['wall_s']:.0f} s)")
    return 1 if FAILED else 0


if __name__ == "__main__":
    raise SystemExit(main())
