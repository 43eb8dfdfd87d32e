#!/usr/bin/env bash
# The GPU path, proven on a machine with a CUDA device (issue 13). One script, under 8 minutes:
#
#   1. the CUDA tests (dendritic and IMP populations; they skip without a GPU);
#   2. the user's 50-epoch run on cuda (studies/resample_overnight.yaml's enqueued first trial:
#      p = 10 %, root schedule, every 100 steps, lr 1e-3; goal: under 30 s);
#   3. population throughput on cuda at P = 1 to 256 with peak GPU memory per member
#      (benchmarks/bench_dendritic_population.py --devices cuda, 1 epoch per trial);
#   4. four search workers sharing one GPU through gpus_per_trial: 0.25 (a short launch of the
#      overnight study: 8 trials of 5 epochs, local Ray, SQLite in a temporary directory).
#
#     MNIST_DIR=/path/to/mnist bash benchmarks/gpu_check.sh [OUT_DIR]     # default runs/gpu_check
#
# Everything printed is also written to OUT_DIR/gpu_check.log; each step has its own time limit,
# and a step that fails or times out is reported and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-runs/gpu_check}
mkdir -p "$OUT"
export MNIST_DIR=${MNIST_DIR:-$PWD/../shared/data/mnist}
LOG="$OUT/gpu_check.log"
exec > >(tee "$LOG") 2>&1
start=$(date +%s)
step() { echo; echo "=== $1 ($(( $(date +%s) - start )) s since start)"; }
status() { [ "$1" -eq 0 ] && echo "--- ok" || echo "--- FAILED (exit $1; 124 = time limit)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "nvidia-smi: not found"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
uptime

step "1. CUDA tests"
timeout 150 "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda \
    tests/core/test_dendritic_population.py tests/core/test_imp_population.py
status $?

step "2. the user's 50-epoch run on cuda (goal: under 30 s)"
timeout 120 "$PY" -m core.run studies/experiments/dendritic_resample.yaml --device cuda --out "$OUT/user_run" \
    --set plasticity.p=10 --set plasticity.schedule=root --set plasticity.every_steps=100 \
    --set train.lr=0.001 --set plots=false | tail -n 4
status $?
"$PY" - "$OUT/user_run/metrics.json" <<'EOF'
import json, sys
try:
    m = json.load(open(sys.argv[1]))["metrics"]
    print(f"user's run on cuda: wall {m['wall_time_s']:.1f} s, train {m['train_time_s']:.1f} s, test_acc {m['test_acc']:.4f}")
except Exception as err:  # noqa: BLE001
    print(f"no metrics: {err!r}")
EOF

step "3. population throughput on cuda, P = 1 to 256, peak memory per member"
timeout 210 "$PY" benchmarks/bench_dendritic_population.py --devices cuda --threads 0 \
    --sizes 1,4,16,64,256 --seq-trials 2 --epochs 1 --seeds 1
status $?

step "4. four workers sharing one GPU (gpus_per_trial: 0.25)"
timeout 150 "$PY" - <<'EOF'
import collections, contextlib, io, tempfile, time
from pathlib import Path

import optuna
import yaml

from search.launch import run
from search.spec import parse_spec

doc = yaml.safe_load(Path("studies/resample_overnight.yaml").read_text())
with tempfile.TemporaryDirectory() as tmp:
    doc["study"].update(name="gpu-share", storage=f"sqlite:///{tmp}/s.db", artifacts=f"{tmp}/art",
                        n_trials=8, timeout=None)
    doc["experiment"]["train"]["epochs"] = 5
    doc["experiment"]["plots"] = False
    doc["resources"].update(workers=4, cpus_per_trial=1, gpus_per_trial=0.25)
    spec = parse_spec(doc)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = run(spec)
    wall = time.perf_counter() - t0
    trials = optuna.load_study(study_name="gpu-share", storage=spec.study.storage).get_trials()
states = collections.Counter(t.state.name for t in trials)
workers = {t.user_attrs.get("worker") for t in trials}
devices = {t.user_attrs.get("device") for t in trials}
times = sorted(t.user_attrs.get("wall_time_s", float("nan")) for t in trials)
print(f"launch exit {result.code}, wall {wall:.0f} s, states {dict(states)}, {len(workers)} workers, devices {devices}")
print(f"trial wall times (5 epochs): {', '.join(f'{t:.1f}' for t in times)} s")
ok = result.code == 0 and states.get("COMPLETE", 0) + states.get("PRUNED", 0) == 8 and devices == {"cuda"} \
    and len(workers) == 4
raise SystemExit(0 if ok else 1)
EOF
status $?

step "done in $(( $(date +%s) - start )) s; log: $LOG"
