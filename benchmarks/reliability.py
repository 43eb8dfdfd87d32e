"""Fault scenarios on real processes, real PostgreSQL and real Ray, each repeated, as a table.

    python benchmarks/reliability.py [--repeat 3] [--scenario NAME ...] [--storage URL]

Every run launches ``python -m search.launch`` on a fresh study (synthetic trials of ~3 s,
2 workers, budget 6, two enqueued configurations), injects one fault, relaunches at most once,
and checks: the budget is met; no trial finished before the fault is lost or changed; none is
left RUNNING; no enqueued configuration finished twice; ``python -m search.report`` succeeds and
its counts by state match the storage. Needs root for the PostgreSQL restart and the tmpfs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from search.store import read_record
from tests.helpers import run_cli, study_doc  # noqa: E402
from tests.search.faults import Launch, by_state, reap, running_with_worker  # noqa: E402

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
ENQUEUED = [{"x": 2.0, "y": -1.0}, {"x": 1.0, "y": 1.0}]
N_TRIALS = 6
LOCAL_PG = "postgresql://sparse:devpass@127.0.0.1/sparsesearch_test"  # .ci/run's test server
PG_RESTART = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]
IMP_TINY = {
    "kind": "imp",
    "data": {"task": "moons", "k": 2, "n_samples": 200},
    "model": {"widths": [8, 8]},
    "train": {"max_epochs": 3, "patience": 2},
    "imp": {"levels": 2, "target_params": 60},
    "analysis": {"plots": True, "trajectories": False},
}


def _doc(name: str, storage: str, artifacts: str, imp: bool = False) -> dict:
    doc = study_doc(
        name,
        study={"storage": storage, "artifacts": artifacts, "n_trials": N_TRIALS, "enqueue": ENQUEUED},
        experiment={"steps": 6, "step_seconds": 0.5},
        resources={"workers": 2, "heartbeat_interval": 1, "max_retries": 2},
    )
    if imp:  # trials that write plots, so that artifact uploads happen
        doc["study"].update(
            metric="val_split_min_task_acc", direction="maximize", enqueue=[{"train.lr": 0.01}, {"train.lr": 0.02}]
        )
        doc["experiment"] = IMP_TINY
        doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}}
    return doc


def _finished(launch: Launch) -> dict[int, tuple]:
    return {t.number: (t.state, t.values) for t in by_state(launch.trials(), *DONE)}


def _wait_busy(launch: Launch) -> None:
    launch.wait_for(
        "a finished trial and two running",
        lambda ts: by_state(ts, *DONE) and len(running_with_worker(ts)) == 2,
        timeout=300,
    )


# Each fault: (launch) -> (exit status, note). The caller relaunches once when the status is not 0.
def fault_worker_kill(launch: Launch) -> tuple[int, str]:
    victim = launch.wait_for("a running trial", running_with_worker, timeout=300)[0]
    os.kill(int(read_record(victim).worker.rsplit(":", 1)[1]), signal.SIGKILL)
    return launch.finish(timeout=300), f"killed trial {victim.number}"


def fault_launcher_kill(launch: Launch) -> tuple[int, str]:
    _wait_busy(launch)
    launch.signal(signal.SIGKILL, group=True)
    code = launch.finish(timeout=60)
    time.sleep(1)
    reap(launch)
    return code, "killpg SIGKILL mid-study"


def fault_sigint(launch: Launch) -> tuple[int, str]:
    _wait_busy(launch)
    launch.signal(signal.SIGINT)
    return launch.finish(timeout=180), "SIGINT mid-study"


def fault_pg_restart(launch: Launch) -> tuple[int, str]:
    _wait_busy(launch)
    started = time.monotonic()
    subprocess.run(PG_RESTART, check=True, capture_output=True, timeout=120)
    took = time.monotonic() - started
    return launch.finish(timeout=300), f"PostgreSQL restarted in {took:.1f} s"


def fault_none(launch: Launch) -> tuple[int, str]:
    return launch.finish(timeout=600), ""


SCENARIOS = {  # name: (fault, artifacts kind)
    "kill -9 worker": (fault_worker_kill, "dir"),
    "kill -9 launcher group, relaunch": (fault_launcher_kill, "dir"),
    "SIGINT, relaunch": (fault_sigint, "dir"),
    "PostgreSQL restart": (fault_pg_restart, "dir"),
    "artifacts on a full 64 KiB tmpfs": (fault_none, "tmpfs"),
    "artifacts under a file (ENOTDIR)": (fault_none, "enotdir"),
}


def _report_counts(study_file: Path, out: Path) -> tuple[int, Counter, str]:
    """``python -m search.report``: exit status, its counts by state, the last stderr line."""
    result = run_cli("search.report", str(study_file), "--out", str(out), timeout=300)
    report = out / "report.md"
    text = report.read_text() if result.returncode == 0 and report.exists() else ""
    rows = re.findall(r"^\| (RUNNING|COMPLETE|PRUNED|FAIL|WAITING) \| (\d+) \|", text, re.M)
    last = (result.stderr.strip().splitlines() or [""])[-1][:120]
    return result.returncode, Counter({s: int(n) for s, n in rows}), last


def run_scenario(name: str, storage: str, work: Path) -> dict:
    fault, artifacts_kind = SCENARIOS[name]
    study = f"rel-{uuid.uuid4().hex[:10]}"
    artifacts = work / "artifacts"
    if artifacts_kind == "tmpfs":
        artifacts.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(artifacts)], check=True)
    elif artifacts_kind == "enotdir":
        (work / "a-file").write_text("not a directory\n")
        artifacts = work / "a-file" / "artifacts"
    path = work / "study.yaml"
    path.write_text(yaml.safe_dump(_doc(study, storage, str(artifacts), imp=artifacts_kind != "dir")))
    launch = Launch(path)
    try:
        before: dict[int, tuple] = {}
        if fault is not fault_none:
            launch.wait_for("the study", lambda ts: ts, timeout=300)
            before = _finished(launch)
        code, note = fault(launch)
        before = before or {}
        codes = [code]
        if code != 0:  # at most one relaunch
            reap(launch)
            again = Launch(path)
            try:
                codes.append(again.finish(timeout=600))
            finally:
                reap(again)
        trials = launch.trials()
        after = {t.number: (t.state, t.values) for t in trials}
        lost = sum(after.get(n) != v for n, v in before.items())
        finished = by_state(trials, *DONE)
        enqueued = yaml.safe_load(path.read_text())["study"]["enqueue"]
        dup = sum(sum(t.params == e for t in finished) > 1 for e in enqueued)
        report_code, counts, report_err = _report_counts(path, work / "report")
        states = Counter(t.state.name for t in trials)
        report_ok = report_code == 0 and all(counts[s] == states[s] for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING"))
        art_err = sum(read_record(t).artifact_error is not None for t in finished)
        notes = [note] if note else []
        notes.append(f"exit {'/'.join(map(str, codes))}; {len(finished)} finished, {states['FAIL']} FAIL")
        if art_err:
            notes.append(f"{art_err} COMPLETE with artifact_error")
        if not report_ok:
            notes.append(f"report exit {report_code}: {report_err}")
        logs = "".join(p.read_text(errors="replace") for p in sorted(work.glob("study.*.log")))
        return {
            "codes": codes,
            "budget": len(finished) >= N_TRIALS,
            "lost": lost,
            "dup": dup,
            "running": states["RUNNING"],
            "report": report_ok,
            "notes": "; ".join(notes),
            "log": logs,
        }
    finally:
        reap(launch)
        try:  # the shared test database keeps no benchmark studies
            optuna.delete_study(study_name=study, storage=storage)
        except Exception:  # noqa: BLE001  never created, or the server is away
            pass
        if artifacts_kind == "tmpfs":
            subprocess.run(["umount", str(work / "artifacts")], check=False)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, "
        f"{platform.platform()}, Python {platform.python_version()}, {pg}; shared with other jobs "
        f"(load average {os.getloadavg()[0]:.1f} at the end)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeatable)")
    p.add_argument(
        "--storage",
        default=os.environ.get("SPARSESEARCH_TEST_POSTGRES", LOCAL_PG),
        help="PostgreSQL URL (default $SPARSESEARCH_TEST_POSTGRES, else the local test server)",
    )
    p.add_argument("--logs", type=Path, help="write each run's launcher logs into this directory")
    args = p.parse_args(argv)
    rows = []
    for name in args.scenario or list(SCENARIOS):
        results = []
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="reliability-") as work:
                started = time.monotonic()
                r = run_scenario(name, args.storage, Path(work))
                print(f"{name} #{i + 1}: {r['notes']} ({time.monotonic() - started:.0f} s)", flush=True)
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
                    (args.logs / f"{slug}-{i + 1}.log").write_text(r["log"])
                results.append(r)
        notes = sorted({r["notes"].split("; exit")[0] for r in results} - {""})
        extra = sorted({n for r in results for n in r["notes"].split("; ") if "artifact_error" in n or "report" in n})
        codes = sorted({"/".join(map(str, r["codes"])) for r in results})
        relaunched = sum(len(r["codes"]) > 1 for r in results)
        rows.append(
            [
                name,
                str(len(results)),
                f"{relaunched} ({', '.join(codes)})",
                f"{sum(r['budget'] for r in results)}/{len(results)}",
                str(sum(r["lost"] for r in results)),
                str(sum(r["running"] for r in results)),
                str(sum(r["dup"] for r in results)),
                f"{sum(r['report'] for r in results)}/{len(results)}",
                "; ".join(extra + [n for n in notes if n.startswith("PostgreSQL")][:1]),
            ]
        )
    header = [
        "scenario",
        "runs",
        "relaunched (exit codes)",
        "budget met",
        "finished lost",
        "left RUNNING",
        "duplicate enqueued",
        "report matches",
        "notes",
    ]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nMachine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
