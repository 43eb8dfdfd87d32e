"""Before the workers start: the study created or loaded (enqueued configurations, grid cells),
its artifact directory, the GPUs asked for counted, Ray started or attached. Bad input raises
:class:`search.studyfile.SpecError` here and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import shutil
from pathlib import Path

import optuna

from search.store import StorageUnavailable, artifact_store, create_or_load, open_storage, sqlite_path
from search.studyfile import SpecError, StudySpec, encode

__all__ = [
    "absolute_paths",
    "check_local_data",
    "check_local_gpus",
    "prepare",
    "prepare_study",
    "start_ray",
    "workers_that_fit",
]


def absolute_paths(spec: StudySpec) -> StudySpec:
    """Workers may run in another directory: make the SQLite file and artifact dir absolute."""
    study = spec.study
    path = sqlite_path(study.storage)
    storage = f"sqlite:///{path.resolve()}" if path is not None else study.storage
    artifacts = str(Path(study.artifacts).resolve())
    return dataclasses.replace(spec, study=dataclasses.replace(study, storage=storage, artifacts=artifacts))


def prepare_study(spec: StudySpec) -> optuna.Study:
    """Create or load the study, check it matches the file, enqueue the known configurations."""
    return prepare(spec)[0]


def prepare(spec: StudySpec) -> tuple[optuna.Study, bool, optuna.storages.BaseStorage]:
    """:func:`prepare_study`, whether this call created the study (of several launchers starting at
    once, exactly one does: the database's unique study name decides), and its storage."""
    res = spec.resources
    created = _make_artifact_dir(Path(spec.study.artifacts))  # before the storage: no study for a bad dir
    try:
        storage = open_storage(
            spec.study.storage, heartbeat_interval=res.heartbeat_interval, max_retries=res.max_retries, create_dirs=True
        )
    except StorageUnavailable:
        if created is not None:  # bad input changes nothing on disk
            shutil.rmtree(created, ignore_errors=True)
        raise
    study, created = create_or_load(storage, spec)
    params_by_name = {p.name: p for p in spec.search_space}
    for params in (*spec.study.enqueue, *_grid_cells(spec)):
        study.enqueue_trial({k: encode(params_by_name[k], v) for k, v in params.items()}, skip_if_exists=True)
    return study, created, storage


def _make_artifact_dir(path: Path) -> Path | None:
    """Create the artifact directory; return the topmost directory this created (None if none)."""
    top, probe = None, path
    while not probe.exists() and probe != probe.parent:
        top, probe = probe, probe.parent
    try:
        artifact_store(path)
    except OSError as err:
        raise SpecError(
            "study.artifacts", f"cannot create the artifact directory {path}: {err.strerror or err}"
        ) from None
    return top


def _grid_cells(spec: StudySpec) -> list[dict]:
    """Every cell of a grid search, queued once: parallel workers then pop distinct cells, where
    Optuna's GridSampler alone lets two workers draw the same one (it is not coordinated)."""
    if spec.study.sampler["name"] != "grid":
        return []
    names = [p.name for p in spec.search_space]
    return [dict(zip(names, values)) for values in itertools.product(*(p.choices for p in spec.search_space))]


def check_local_gpus(spec: StudySpec) -> None:
    """A local Ray gets this machine's GPUs (those torch sees): a shortfall is found without starting Ray.

    An attached cluster (``ray_address``) is counted by :func:`start_ray`, after the study exists.
    """
    res = spec.resources
    if res.gpus_per_trial > 0 and not res.ray_address:
        import torch  # only here: CPU studies should not pay for CUDA initialisation

        from core import get_experiment
        from search.launch.worker import gpu_problem

        problem = gpu_problem() if get_experiment(spec.kind).uses_device else None
        if problem is not None:  # a CPU build of torch says so, not "0 GPUs"
            raise SpecError("resources.gpus_per_trial", problem)
        gpus = torch.cuda.device_count()
        if res.gpus_per_trial > gpus:
            raise SpecError(
                "resources.gpus_per_trial", f"expected at most this machine's {gpus} GPUs, got {res.gpus_per_trial:g}"
            )


def check_local_data(spec: StudySpec) -> None:
    """The experiment's data files (MNIST: present, the original md5), checked before the study exists
    when the trials run on this machine: a damaged file is one line and exit 2, not a FAIL trial
    per second. Workers of an attached cluster (``ray_address``) check their own before any trial."""
    if spec.resources.ray_address:
        return
    from core import RunContext, get_experiment

    experiment = get_experiment(spec.kind)
    if experiment.check_data is not None:
        experiment.check_data(spec.experiment, RunContext())


def workers_that_fit(spec: StudySpec, cluster: dict[str, float]) -> int:
    """How many of ``resources.workers`` the cluster can place at once (its total CPUs and GPUs);
    Ray would leave the others pending for ever, and the launch waiting for them."""
    res, fit = spec.resources, spec.resources.workers
    for key, per_worker in (("GPU", res.gpus_per_trial), ("CPU", res.cpus_per_trial)):
        if per_worker > 0:
            fit = min(fit, math.floor(cluster.get(key, 0.0) / per_worker + 1e-6))  # Ray's 1e-4 granularity
    return fit


def start_ray(spec: StudySpec) -> bool:
    """Attach to ``ray_address`` or start a local Ray; return whether we started it."""
    import ray

    res = spec.resources
    if res.ray_address:
        ray.init(address=res.ray_address, logging_level="WARNING", log_to_driver=True)
        started = False
    else:
        wanted = math.ceil(res.workers * res.cpus_per_trial)
        ray.init(
            num_cpus=max(os.cpu_count() or 1, wanted),
            include_dashboard=False,
            logging_level="WARNING",
            log_to_driver=True,
        )
        started = True
    gpus = ray.cluster_resources().get("GPU", 0)
    if res.gpus_per_trial > gpus:
        if started:
            ray.shutdown()
        raise SpecError(
            "resources.gpus_per_trial", f"expected at most the cluster's {gpus:g} GPUs, got {res.gpus_per_trial:g}"
        )
    return started
