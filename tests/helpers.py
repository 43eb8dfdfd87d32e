"""Helpers shared by tests: study documents and running the real CLIs in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# The one place that says where the test MNIST files are: $MNIST_DIR, else ../shared/data/mnist.
MNIST_DIR = Path(os.environ.get("MNIST_DIR") or SHARED / "data" / "mnist")


def require_mnist(directory: Path = MNIST_DIR) -> Path:
    """``directory`` when it holds the four MNIST IDX files; otherwise skip the test, or fail it
    when ``SPARSESEARCH_REQUIRE_MNIST=1`` (CI: a missing file must not turn into a green run)."""
    from core.data.mnist import MNIST_FILES

    missing = [name for name in MNIST_FILES if not (directory / name).is_file()]
    if missing:
        reason = f"MNIST: {directory} ($MNIST_DIR) lacks {', '.join(missing)}"
        if os.environ.get("SPARSESEARCH_REQUIRE_MNIST") == "1":
            pytest.fail(f"MNIST is required (SPARSESEARCH_REQUIRE_MNIST=1) but {reason}")
        pytest.skip(f"{reason} (set SPARSESEARCH_REQUIRE_MNIST=1 to make this a failure)")
    return directory


def study_doc(name: str = "t", **sections: Any) -> dict:
    """A small valid study on the synthetic kind; ``sections`` replace/extend top-level parts."""
    doc = {
        "study": {
            "name": name,
            "direction": "minimize",
            "metric": "loss",
            "n_trials": 6,
            "sampler": {"name": "random", "seed": 1},
            "pruner": {"name": "none"},
        },
        "experiment": {"kind": "synthetic", "steps": 3, "step_seconds": 0.05},
        "search_space": {
            "x": {"type": "float", "low": -3.0, "high": 3.0},
            "y": {"type": "float", "low": -3.0, "high": 3.0},
        },
        "resources": {"workers": 2, "cpus_per_trial": 1},
    }
    for key, value in sections.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return doc


def run_cli(
    module: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` like a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def optimize_here(tmp_path: Path, doc: dict, n: int, population: int = 0):
    """Run ``n`` trials of the study ``doc`` in this process, as one worker would (no Ray): with
    one trial at a time, or in population rounds of ``population`` trainings (both through the
    worker's own life cycle, ``search.trial.run_trials``). Returns the study."""
    import dataclasses
    import threading

    from search.launch import prepare_study
    from search.store import artifact_store
    from search.studyfile import make_pruner, make_sampler, parse_spec
    from search.trial import Objective, run_trials

    doc["study"].setdefault("storage", f"sqlite:///{tmp_path}/study.db")
    doc["study"].setdefault("artifacts", str(tmp_path / "artifacts"))
    spec = parse_spec(doc)
    study = prepare_study(spec)
    grid = {p.name: p.encoded_choices for p in spec.search_space}
    study.sampler = make_sampler(spec.study.sampler, grid if spec.study.sampler["name"] == "grid" else None)
    study.pruner = make_pruner(spec.study.pruner)
    objective = Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id="test",
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )
    per_round = 1  # trials per round as a worker asks them (resources.population counts trainings)
    if population:
        resources = dataclasses.replace(spec.resources, population=population)
        per_round = dataclasses.replace(spec, resources=resources).trials_per_round()
    for asked in range(0, n, per_round):
        run_trials(study, objective, min(per_round, n - asked), heartbeat_s=1.0, batched=bool(population))
    return study
