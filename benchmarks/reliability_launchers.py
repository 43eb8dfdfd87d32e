"""Several launchers on one study, each scenario repeated, as a table for RELIABILITY.md.

    python benchmarks/reliability_launchers.py [--repeat 5] [--scenario NAME ...] [--storage URL]

Every run starts 2 or 3 ``python -m search.launch`` of one study file at once (each with its
own local Ray and 2 workers; synthetic 3-second trials, budget 10, one enqueued baseline, the
same seeded sampler in every launcher), optionally kills one launcher's process group with
SIGKILL while one of its trials runs, and counts what ``tests/search/faults.one_study_problems``
checks: nothing left RUNNING, the budget met with an overshoot of at most workers - 1, no
configuration trained twice, the baseline trained once, repeats exact, no two workers on one
sampler seed; plus FAIL trials (only the killed launcher's may fail, and each must be retried).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import optuna
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.reliability import LOCAL_PG, machine  # noqa: E402
from search.store import read_record
from tests.helpers import study_doc  # noqa: E402
from tests.search.faults import by_state, launch_together, one_study_problems  # noqa: E402

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # retried_trial_number
BASELINE = {"x": 2.0, "y": -1.0}
N_TRIALS = 10
SCENARIOS = {  # name: (backend, launchers, kill one)
    "2 launchers, SQLite": ("sqlite", 2, False),
    "3 launchers, SQLite": ("sqlite", 3, False),
    "2 launchers, PostgreSQL": ("postgresql", 2, False),
    "3 launchers, PostgreSQL": ("postgresql", 3, False),
    "2 launchers, kill -9 one, SQLite": ("sqlite", 2, True),
    "2 launchers, kill -9 one, PostgreSQL": ("postgresql", 2, True),
}


def run_scenario(name: str, pg_url: str, work: Path) -> dict:
    backend, n, kill = SCENARIOS[name]
    study = f"rel-{uuid.uuid4().hex[:10]}"
    storage = f"sqlite:///{work}/study.db" if backend == "sqlite" else pg_url
    doc = study_doc(
        study,
        study={"storage": storage, "artifacts": str(work / "artifacts"), "n_trials": N_TRIALS, "enqueue": [BASELINE]},
        experiment={"steps": 8 if kill else 5, "step_seconds": 0.6},
        resources={"workers": 2, "heartbeat_interval": 1, "max_retries": 2},
    )
    path = work / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        codes, runs, killed = launch_together(path, n, kill_one=kill, timeout=300)
        trials = runs[0].trials()
        problems = one_study_problems(trials, N_TRIALS, 2 * n, BASELINE)
        failed = by_state(trials, TrialState.FAIL)
        unretried = [
            t
            for t in failed
            if not any(
                RetryHeartbeatStaleTrialCallback.retried_trial_number(r) == t.number and r.state == TrialState.COMPLETE
                for r in trials
            )
        ]
        expected = [0] * (n - 1) + ([-9] if kill else [0])
        records = [read_record(t) for t in trials]
        return {
            "codes": codes,
            "ok_codes": codes == expected,
            "problems": problems,
            "failed": len(failed),
            "unretried": len(unretried),
            "killed": len(killed),
            "repeats": sum(rec.repeat_of is not None for rec in records),
            "launchers_ran": len({rec.launch_id for rec in records} - {None}),
            "finished": len(by_state(trials, TrialState.COMPLETE, TrialState.PRUNED)),
            "log": "\n---\n".join(r.log.read_text(errors="replace") for r in runs),
        }
    finally:
        if backend == "postgresql":
            try:  # the shared test database keeps no benchmark studies
                optuna.delete_study(study_name=study, storage=storage)
            except Exception:  # noqa: BLE001  never created, or the server is away
                pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="runs per scenario (default 5)")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeatable)")
    p.add_argument(
        "--storage",
        default=os.environ.get("SPARSESEARCH_TEST_POSTGRES", LOCAL_PG),
        help="PostgreSQL URL (default $SPARSESEARCH_TEST_POSTGRES, else the local test server)",
    )
    p.add_argument("--logs", type=Path, help="write the launcher logs of runs with a problem into this directory")
    args = p.parse_args(argv)
    rows = []
    for name in args.scenario or list(SCENARIOS):
        results = []
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="reliability-") as work:
                started = time.monotonic()
                r = run_scenario(name, args.storage, Path(work))
            print(
                f"{name} #{i + 1}: exit {r['codes']}, {r['finished']} finished, {r['failed']} FAIL, "
                f"{r['repeats']} repeats, {r['launchers_ran']} launchers ran trials, problems {r['problems']} "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            if args.logs and (r["problems"] or not r["ok_codes"] or r["unretried"]):
                args.logs.mkdir(parents=True, exist_ok=True)
                (args.logs / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}-{i + 1}.log").write_text(r["log"])
            results.append(r)
        k = len(results)
        problems = sorted({p for r in results for p in r["problems"]})
        rows.append(
            [
                name,
                str(k),
                f"{sum(r['ok_codes'] for r in results)}/{k}",
                f"{sum(not r['problems'] for r in results)}/{k}",
                str(sum(r["failed"] for r in results)),
                str(sum(r["unretried"] for r in results)),
                str(sum(r["repeats"] for r in results)),
                f"{min(r['launchers_ran'] for r in results)}–{max(r['launchers_ran'] for r in results)}",
                "; ".join(problems) or "-",
            ]
        )
    header = [
        "scenario",
        "runs",
        "exit codes as expected",
        "no problem",
        "FAIL trials",
        "FAIL not retried",
        "repeats recorded",
        "launchers that ran trials",
        "problems seen",
    ]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nMachine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
