"""The GPU path on a CPU machine: a Ray head started with logical GPUs schedules fractional actors and
sets CUDA_VISIBLE_DEVICES exactly as on a GPU node. More workers than fit never hang the launch,
and a worker whose torch cannot use its GPU share says why instead of training on the CPU."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

from search.launch.prepare import workers_that_fit
from search.launch.worker import DeviceUnavailable, _device, gpu_problem
from search.store import read_record
from search.studyfile import parse_spec
from tests.cluster._local import Processes, free_port
from tests.helpers import run_cli, study_doc
from tests.search.faults import Launch, by_state

needs_cpu_torch = pytest.mark.skipif(torch.cuda.is_available(), reason="shows what a machine without CUDA does")


def _spec(**resources):
    return parse_spec(study_doc("g", resources=resources))


def test_workers_that_fit_count_whole_actors_of_the_cluster_totals():
    cluster = {"CPU": 16.0, "GPU": 1.0}
    assert workers_that_fit(_spec(workers=4, gpus_per_trial=0.5), cluster) == 2
    assert workers_that_fit(_spec(workers=3, gpus_per_trial=0.33), cluster) == 3
    assert workers_that_fit(_spec(workers=4, gpus_per_trial=0.25), cluster) == 4
    assert workers_that_fit(_spec(workers=8, cpus_per_trial=4), cluster) == 4
    assert workers_that_fit(_spec(workers=2, gpus_per_trial=2), {"CPU": 8.0, "GPU": 3.0}) == 1


@needs_cpu_torch
def test_a_gpu_share_on_a_cpu_build_of_torch_is_an_error_naming_the_build_not_a_cpu_run():
    assert "CPU build" in gpu_problem() and torch.__version__ in gpu_problem()
    with pytest.raises(DeviceUnavailable, match="resources.gpus_per_trial: this torch is a CPU build"):
        _device(0.5)
    assert _device(0.5, needs_device=False) == "cpu" and _device(0) == "cpu"


@needs_cpu_torch
@pytest.mark.slow
def test_a_local_gpu_study_on_a_cpu_build_is_refused_in_one_line_before_the_study_exists(tmp_path, write_study):
    doc = study_doc("gpu-local", resources={"workers": 1, "gpus_per_trial": 0.5})
    doc["experiment"] = {"kind": "imp", "data": {"n_samples": 200}, "imp": {"levels": 1}}
    doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}
    got = run_cli("search.launch", str(write_study(doc)))
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr
    assert "resources.gpus_per_trial: this torch is a CPU build" in got.stderr
    assert not (tmp_path / "study.db").exists()


@pytest.fixture
def ray_with_one_logical_gpu(tmp_path, monkeypatch):
    """A Ray head with 4 CPUs and 1 logical GPU, in its own process group, stopped afterwards; its
    address, with this process's environment set to reach it (the token). Its directory is short:
    Ray's socket paths must fit in 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix="rg-", dir="/tmp"))
    procs = Processes(root, tmp_path)
    port, token = free_port(), secrets.token_hex(16)
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    procs.start(
        "head",
        f"ray start --head --block --port={port} --num-cpus=4 --num-gpus=1 --include-dashboard=false "
        f"--temp-dir={root}/t --dashboard-agent-listen-port={free_port()} --min-worker-port=0 "
        "--max-worker-port=0 --object-store-memory=100000000",
        env,
    )
    probe = f"{sys.executable} -c 'import ray; ray.init(address=\"127.0.0.1:{port}\"); ray.shutdown()'"
    try:
        procs.wait_until("probe", probe, env, timeout=90)
        for key, value in {**procs.base_env, **env}.items():
            monkeypatch.setenv(key, value)
        yield f"127.0.0.1:{port}"
    finally:
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@needs_cpu_torch
def test_more_fractional_gpu_workers_than_fit_run_with_those_that_fit_and_say_so(
    write_study, tmp_path, ray_with_one_logical_gpu
):
    address = ray_with_one_logical_gpu
    # 4 workers x 0.5 GPU on 1 GPU: 2 fit. Before, the 2 others stayed pending and the launch hung:
    # now the launch says so and, once the budget is met, drops the workers Ray never placed.
    doc = study_doc("fit", study={"n_trials": 4}, resources={"workers": 4, "gpus_per_trial": 0.5})
    launch = Launch(write_study(doc), "--ray-address", address, cwd=tmp_path)
    assert launch.finish(timeout=150) == 0, launch.output()
    assert "places 2 of 4 workers at once" in launch.output() and "not waited for" in launch.output()
    trials = launch.trials()
    assert len(by_state(trials, TrialState.COMPLETE)) >= 4 and not by_state(trials, TrialState.RUNNING)
    assert {read_record(t).device for t in trials} == {"cpu"}  # the synthetic kind uses no device


@pytest.mark.slow
@needs_cpu_torch
def test_a_gpu_worker_whose_torch_sees_no_gpu_stops_the_launch_with_the_cause(
    write_study, tmp_path, ray_with_one_logical_gpu
):
    address = ray_with_one_logical_gpu
    doc = study_doc("nogpu", study={"n_trials": 2}, resources={"workers": 2, "gpus_per_trial": 0.5})
    doc["experiment"] = {"kind": "imp", "data": {"n_samples": 200}, "imp": {"levels": 1}}
    doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}
    launch = Launch(write_study(doc), "--ray-address", address, cwd=tmp_path)
    assert launch.finish(timeout=150) == 2, launch.output()
    assert "resources.gpus_per_trial: this torch is a CPU build" in launch.output(), launch.output()
    assert not launch.trials(), "no trial ran on the wrong device"
