"""No flood: a damaged data file is one line before anything starts, and a launch whose trials keep
failing stops after a few in a row instead of writing a FAIL trial per second until its timeout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from optuna.trial import TrialState

from search.store import read_record
from tests.helpers import require_mnist, run_cli, study_doc
from tests.search.faults import Launch, by_state

pytestmark = pytest.mark.slow
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture
def truncated_mnist(tmp_path: Path) -> Path:
    """A copy of MNIST whose training images are cut to 100 kB (a download that broke off)."""
    source, target = require_mnist(), tmp_path / "mnist"
    target.mkdir()
    for name in MNIST_FILES:
        shutil.copy(source / name, target / name)
    images = target / MNIST_FILES[0]
    images.write_bytes(images.read_bytes()[:100_000])
    return target


def test_core_run_names_a_truncated_mnist_file_in_one_line_and_writes_nothing(tmp_path, truncated_mnist):
    exp = tmp_path / "exp.yaml"
    exp.write_text("kind: dendritic\ntrain: {epochs: 1, train_subset: 256, test_subset: 256}\nplots: false\n")
    out = tmp_path / "out"
    got = run_cli("core.run", str(exp), "--out", str(out), env={"MNIST_DIR": str(truncated_mnist)})
    assert got.returncode == 2, got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in got.stderr, got.stderr
    assert str(truncated_mnist / MNIST_FILES[0]) in lines[0] and "not the original" in lines[0]
    assert "delete it to download it again" in lines[0]
    assert not out.exists()


def test_a_launch_on_a_truncated_mnist_file_is_refused_before_the_study_exists(tmp_path, write_study, truncated_mnist):
    doc = study_doc(
        "damaged",
        study={"metric": "val_acc", "direction": "maximize", "n_trials": 4, "timeout": "90s"},
    )
    doc["experiment"] = {"kind": "dendritic", "train": {"epochs": 1, "train_subset": 256}, "plots": False}
    doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}
    path = write_study(doc)
    got = run_cli("search.launch", str(path), env={"MNIST_DIR": str(truncated_mnist)})
    assert got.returncode == 2, got.stdout + got.stderr
    assert got.stderr.count("\n") == 1 and MNIST_FILES[0] in got.stderr and "not the original" in got.stderr
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "artifacts").exists()


def test_a_launch_whose_every_trial_fails_stops_after_a_few_in_a_row(write_study, tmp_path):
    doc = study_doc(
        "flood",
        study={"n_trials": 1000, "timeout": "120s"},
        experiment={"steps": 2, "step_seconds": 0.0, "fail": "raise", "fail_at_step": 1},
        resources={"workers": 2, "max_consecutive_failures": 3},
    )
    launch = Launch(write_study(doc), cwd=tmp_path)
    assert launch.finish(timeout=110) == 1, launch.output()
    out = launch.output()
    assert "3 trials in a row failed" in out and "RuntimeError: synthetic failure at step 1" in out, out
    assert "every worker's trials kept failing" in out, out
    trials = launch.trials()
    failed = by_state(trials, TrialState.FAIL)
    assert 3 <= len(failed) <= 2 * 3, out  # each worker stops at its third failure in a row
    assert not by_state(trials, TrialState.RUNNING), out


def test_failures_among_successes_do_not_stop_the_launch(write_study, tmp_path):
    # One worker asks the enqueued trials in order: never three failures in a row.
    pattern = [{"fail": "raise"}, {"fail": "raise"}, {"fail": "none"}] * 3
    doc = study_doc(
        "flaky",
        study={"n_trials": 3, "enqueue": [{**p, "x": 0.1 * i} for i, p in enumerate(pattern)]},
        experiment={"steps": 1, "step_seconds": 0.0, "fail_at_step": 1},
        resources={"workers": 1, "max_consecutive_failures": 3},
    )
    doc["search_space"]["fail"] = {"type": "categorical", "choices": ["none", "raise"]}
    launch = Launch(write_study(doc), cwd=tmp_path)
    assert launch.finish(timeout=120) == 0, launch.output()
    trials = launch.trials()
    assert len(by_state(trials, TrialState.COMPLETE)) == 3 and len(by_state(trials, TrialState.FAIL)) == 6
    assert all("synthetic failure" in read_record(t).fail_reason for t in by_state(trials, TrialState.FAIL))
    assert "in a row failed" not in launch.output()
