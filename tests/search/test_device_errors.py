"""Device errors of the real types, injected on the CPU: an out-of-memory population round is split
and later rounds are smaller; an error that leaves the GPU unusable restarts the worker process and
queues its trials again."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
import torch
from optuna.trial import TrialState

from core import get_experiment
from core.contract import EXPERIMENTS
from core.errors import fatal_device_error, out_of_memory
from search.launch import prepare_study
from search.launch.worker import StudyWorker
from search.store import read_record
from search.studyfile import parse_spec
from tests.helpers import study_doc
from tests.search.faults import Launch, by_state
from tests.search.test_population import _imp_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_device_errors_are_told_apart_by_type_and_by_cuda_s_text():
    assert out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not fatal_device_error(torch.OutOfMemoryError("CUDA out of memory"))
    assert fatal_device_error(torch.AcceleratorError("CUDA error: device-side assert triggered"))
    assert fatal_device_error(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert fatal_device_error(RuntimeError("CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling cublasSgemm"))
    assert not fatal_device_error(RuntimeError("synthetic failure at step 1")) and not out_of_memory(ValueError())


@pytest.fixture
def imp_fits_two(monkeypatch):
    """The imp kind's population run, as on a GPU whose memory holds at most two trainings."""
    exp = get_experiment("imp")
    sizes: list[int] = []

    def run_population(configs, reporters, ctx):
        sizes.append(len(configs))
        if len(configs) > 2:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(configs)} GiB")
        return exp.run_population(configs, reporters, ctx)

    monkeypatch.setitem(EXPERIMENTS._items, "imp", dataclasses.replace(exp, run_population=run_population))
    return sizes


def test_an_out_of_memory_round_is_split_and_later_rounds_are_no_larger(tmp_path, imp_fits_two):
    doc = _imp_doc(tmp_path, population=4)
    doc["study"]["n_trials"] = 6
    spec = parse_spec(doc)
    prepare_study(spec)
    stats = StudyWorker(spec, index=0, launch_id="oom", deadline=None).run()
    # 4 ran out of memory, its halves fitted; every later round asked for 2 at most.
    assert imp_fits_two[:3] == [4, 2, 2] and max(imp_fits_two[3:]) <= 2, imp_fits_two
    study = prepare_study(spec)
    trials = study.get_trials()
    assert len(by_state(trials, TrialState.COMPLETE)) == 6 and not by_state(trials, TrialState.FAIL)
    assert stats["trials"] == 6


@pytest.mark.slow
def test_a_fatal_device_error_restarts_the_worker_and_queues_the_trial_again(write_study, tmp_path):
    doc = study_doc(
        "fatal",
        study={"n_trials": 3, "enqueue": [{"seed": 7, "x": 1.0}]},
        experiment={"steps": 2, "step_seconds": 0.0, "fail": "device", "fail_at_step": 1, "fail_seed": 7},
        resources={"workers": 1, "max_retries": 1},
    )
    # only the enqueued trial has seed 7 (the sampler draws one of a million: a one in 10^6 chance)
    doc["search_space"]["seed"] = {"type": "int", "low": 0, "high": 1_000_000}
    launch = Launch(write_study(doc), cwd=tmp_path)
    try:
        assert launch.finish(timeout=150) == 0, launch.output()
    finally:
        os.killpg(launch.proc.pid, signal.SIGKILL) if launch.proc.poll() is None else None
    trials = launch.trials()
    first, copy = trials[0], next(t for t in trials if t.user_attrs.get("requeued_from") == 0)
    for t in (first, copy):  # the copy fails alike; max_retries 1: no copy of the copy
        assert t.state == TrialState.FAIL and "CUDA error: an illegal memory access" in read_record(t).fail_reason
    assert not [t for t in trials if t.user_attrs.get("requeued_from") == copy.number], launch.output()
    assert "restarting the worker" in launch.output()
    workers = [read_record(t).worker for t in trials]
    assert workers[0] != workers[-1], "a new worker process ran the trials after the fault"
    assert len(by_state(trials, TrialState.COMPLETE)) == 3 and not by_state(trials, TrialState.RUNNING)


@pytest.mark.slow
def test_a_fault_that_kills_every_trial_s_process_still_stops_the_launch(write_study, tmp_path):
    # Each fatal error restarts the worker process; the streak of failures goes on across restarts.
    doc = study_doc(
        "fatal-flood",
        study={"n_trials": 50, "timeout": "150s"},
        experiment={"steps": 2, "step_seconds": 0.0, "fail": "device", "fail_at_step": 1},
        resources={"workers": 1, "max_retries": 0, "max_consecutive_failures": 2},
    )
    launch = Launch(write_study(doc), cwd=tmp_path)
    try:
        assert launch.finish(timeout=150) == 1, launch.output()
    finally:
        os.killpg(launch.proc.pid, signal.SIGKILL) if launch.proc.poll() is None else None
    assert "2 trials in a row failed" in launch.output() and "illegal memory access" in launch.output()
    trials = launch.trials()
    assert len(by_state(trials, TrialState.FAIL)) == 2 and len(trials) == 2, launch.output()
    assert len({read_record(t).worker for t in trials}) == 2, "the second ran in the restarted process"
