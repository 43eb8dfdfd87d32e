"""The benchmarks still run (smoke sizes) and print the tables the docs quote. No timing is asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _rows(stdout: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ][1:]


def _bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bench_imp_level_prints_a_rate_and_ratio_per_row() -> None:
    proc = _bench("bench_imp_level.py", "--epochs", "1", "--repeats", "1", "--devices", "cpu")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc.stdout)
    names = ["IMP level (core)", "dense MLP, same loop", "dense MLP, DataLoader"]
    threads = sorted({1, os.cpu_count() or 1})
    assert [(r[0], int(r[1]), r[2]) for r in rows] == [("cpu", t, n) for t in threads for n in names]
    for group in (rows[i : i + 3] for i in range(0, len(rows), 3)):
        rates = [float(r[3].replace(",", "")) for r in group]
        assert all(rate > 0 for rate in rates)
        assert [float(r[4]) for r in group] == pytest.approx([rate / rates[2] for rate in rates], abs=0.006)


def test_bench_cut_prints_both_cuts_and_a_time_per_level() -> None:
    proc = _bench("bench_cut.py", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc.stdout)
    assert [(r[0], int(r[1])) for r in rows] == [
        (n, lv) for n in ("moons 2x (16, 16)", "LeNet 2x MNIST") for lv in (0, 3, 7, 12, 15)
    ]
    assert rows[0][3] == "64" and rows[5][3] == "236200"  # dense: every weight at task 0's inputs and outputs
    assert all(float(r[5]) > 0 for r in rows)


def test_bench_search_runs_the_quickstart_study_through_the_launcher() -> None:
    proc = _bench("bench_search.py", "--quick", "--cases", "quickstart")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(proc.stdout)
    assert [r[:2] for r in rows] == [["quickstart", "1 worker"], ["quickstart", "2 workers"]]
    for row in rows:
        finished, failed = int(row[3]), int(row[4])
        assert finished >= 2 and failed == 0  # the 2-trial budget, met
        assert float(row[2].replace(",", "")) == pytest.approx(finished * 3600 / float(row[5]), rel=0.05)


def test_bench_search_rejects_an_unknown_case_in_one_line() -> None:
    proc = _bench("bench_search.py", "--cases", "quickstart,nope")
    assert proc.returncode == 2 and proc.stdout == ""
    assert re.fullmatch(r"error: --cases: unknown case 'nope'; expected one of .+\n", proc.stderr)


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows what the check does without CUDA")
def test_the_gpu_check_fails_without_cuda_and_writes_everything_into_out(tmp_path) -> None:
    out = tmp_path / "gpu"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OUT": str(out)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL no CUDA device" in done.stdout and "Traceback" not in done.stderr
    assert {p.name for p in out.iterdir()} == {"gpu_check.log", "gpu_check.json"}
    figures = json.loads((out / "gpu_check.json").read_text())
    assert figures["failed"] and figures["machine"]["cuda"] is None


def test_the_gpu_check_s_embedded_scripts_compile() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for name in ("MEMORY", "SHARE"):
        compile(getattr(gpu_check, name), name, "exec")


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows what a benchmark does without CUDA")
def test_a_benchmark_asked_for_cuda_without_it_fails_instead_of_skipping() -> None:
    done = _bench("bench_dendritic_population.py", "--devices", "cuda", "--sizes", "1", "--seq-trials", "1")
    assert done.returncode == 1 and "no CUDA device" in done.stderr


def test_bench_vs_optuna_runs_both_sides_and_counts_their_epochs() -> None:
    proc = _bench("bench_vs_optuna.py", "--quick")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(proc.stdout)
    assert [r[0] for r in rows] == ["plain Optuna, 2 processes", "this service"]
    for r in rows:
        assert int(r[1]) > 0 and int(r[2]) >= int(r[1])  # trials finished, at least an epoch each
    assert rows[0][4] == "1.00"
