"""Study files: YAML → a validated, frozen :class:`StudySpec`.

A study file has four sections and an optional fifth (see ``studies/quickstart.yaml``)::

    study:        name, storage, direction(s), metric(s), sampler, pruner, n_trials, timeout, enqueue,
                  replicates
    experiment:   kind + the experiment's fixed hyperparameters (nested like its config)
    search_space: dotted hyperparameter name → distribution
    resources:    workers, cpus_per_trial, gpus_per_trial, ray_address, trial_timeout, max_retries, max_consecutive_failures, ...
    confirm:      (optional) how ``python -m search.confirm`` re-runs the best: metric, overrides, top, seeds,
                  also (more labelled configurations beside the baseline), tie_break (+ its direction)

Each key is declared once, in :mod:`search.studyfile.sections` (pydantic; also the JSON Schema of
:mod:`search.schema`); the experiment's keys are the core's config dataclasses. This module
adds what spans sections: the experiment config, the search space against it, the sampler and
pruner arguments, the storage URL and the paths written to. Everything is checked before
anything touches storage or disk; a mistake raises :class:`SpecError` whose message names the
dotted path, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.engine import make_url

from core import ConfigError, get_experiment
from core.config import check, field_paths, from_dict, replace_path, replace_paths
from search.studyfile.samplers import make_pruner, make_sampler
from search.studyfile.sections import ConfirmSection, Resources, StudySection, parse_duration, validate_file
from search.studyfile.space import Param, parse_param
from search.studyfile.yamlfile import MAX_FILE_BYTES, SpecError, read_yaml

__all__ = [
    "MAX_FILE_BYTES",
    "ConfirmSection",
    "Resources",
    "SpecError",
    "StudySection",
    "StudySpec",
    "check_write_path",
    "load_spec",
    "parse_duration",
    "parse_spec",
]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """A whole study file, validated. ``experiment`` is the core's frozen config object."""

    study: StudySection
    kind: str
    experiment: Any
    search_space: tuple[Param, ...]
    resources: Resources
    confirm: ConfirmSection | None = None  # None: the study's metric has no test twin and none is named
    source: str = "<string>"

    @property
    def multi_objective(self) -> bool:
        return len(self.study.directions) > 1

    def trials_per_round(self, cap: int | None = None) -> int:
        """How many trials a worker asks for one population round. ``resources.population`` counts
        trainings, and a trial of ``study.replicates`` seeds is that many of them; ``cap``: the
        trainings that fitted the device after it ran out of memory. 1 without populations."""
        trainings = self.resources.population
        if trainings <= 1:
            return 1
        return max(1, min(trainings, cap or trainings) // self.study.replicates)


def _interpolate(text: str, path: str) -> str:
    def sub(m: re.Match) -> str:
        check(m.group(1) in os.environ, path, f"environment variable {m.group(1)} is not set")
        return os.environ[m.group(1)]

    return _VAR.sub(sub, text)


def _study(study: StudySection, space: tuple[Param, ...], env_storage: str | None) -> StudySection:
    storage = _interpolate(env_storage or study.storage, "study.storage")
    _check_storage(storage, from_file=not env_storage)
    artifacts = _interpolate(study.artifacts, "study.artifacts")
    check_write_path(artifacts, "study.artifacts")
    grid = {p.name: p.encoded_choices for p in space} if all(p.type == "categorical" for p in space) else None
    make_sampler(study.sampler, grid)  # validates the name and arguments now, not in a worker
    make_pruner(study.pruner)
    names = {p.name for p in space}
    for i, entry in enumerate(study.enqueue):
        check(
            len(entry) > 0, f"study.enqueue[{i}]", f"expected a mapping of search_space names to values, got {entry!r}"
        )
        for key in entry:
            check(
                key in names,
                f"study.enqueue[{i}].{key}",
                f"not in search_space; expected one of {', '.join(sorted(names))}",
            )
    return dataclasses.replace(study, storage=storage, artifacts=artifacts)


def check_write_path(path: str, field: str) -> None:
    """The rule for paths a study file makes the service write to (artifacts, the SQLite file).

    A relative path is resolved under the current directory (the run directory) and may not
    contain a ``..`` component, so it cannot climb out of it. An absolute path is the operator's
    explicit choice and is allowed, but never with ``..`` either (no ``/data/../etc`` disguises).
    """
    check("\0" not in path, field, "expected a path without NUL characters")
    check(
        ".." not in PurePosixPath(path.replace("\\", "/")).parts,
        field,
        f"expected a path without '..' components (relative paths stay under the run directory), got {path!r}",
    )


def _check_storage(url: str, from_file: bool) -> None:
    """A URL SQLAlchemy can parse, naming a database file for SQLite. Errors never show the password."""
    check(
        bool(re.match(r"^(sqlite|postgresql|mysql)(\+\w+)?://", url)),
        "study.storage",
        "expected a URL starting with sqlite:///, postgresql:// or mysql://",
    )
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001  (ValueError for a bad port, ArgumentError for the rest)
        raise SpecError(
            "study.storage",
            "expected a URL like postgresql://user:${PGPASSWORD}@host:5432/db "
            "(host, numeric port, database); this one cannot be parsed",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        check(
            parsed.database not in (None, "", ":memory:"),
            "study.storage",
            "expected sqlite:///PATH/TO/study.db (a file: workers in other processes share it)",
        )
        if from_file:  # an operator's --storage / $SPARSESEARCH_STORAGE is their own choice
            check_write_path(parsed.database, "study.storage")


def _space(raw: Mapping[str, Any], config: Any) -> tuple[Param, ...]:
    known = field_paths(type(config))
    params = []
    for name, entry in raw.items():
        path = f"search_space.{name}"
        check(
            name in known,
            path,
            "unknown hyperparameter of this experiment; expected one of " + ", ".join(sorted(known)),
        )
        param = parse_param(name, entry, path)
        probes = param.choices if param.type == "categorical" else (param.low, param.high)
        for value in probes:  # every choice and both bounds must make a valid config
            try:
                replace_path(config, name, value)
            except ConfigError as err:
                raise SpecError(path, f"value {value!r} is invalid for the experiment: {err.message}") from None
        params.append(param)
    return tuple(params)


def _decide_on_validation(config: Any, given: Mapping[str, Any], metrics: tuple[str, ...]) -> Any:
    """Search trials evaluate per epoch only what decides: a kind with a ``curves`` switch (full
    train/test passes every epoch) runs its search trials without them when every objective is a
    validation metric and the file does not set ``experiment.curves`` (test and train sets are
    then evaluated after a trial's last epoch only)."""
    if "curves" in given or "curves" not in field_paths(type(config)):
        return config
    return replace_path(config, "curves", False) if all(m.startswith("val_") for m in metrics) else config


def _confirm(raw: ConfirmSection | None, given: bool, metrics: tuple[str, ...], config: Any) -> ConfirmSection | None:
    raw = raw or ConfirmSection()
    if "curves" in field_paths(type(config)) and "curves" not in raw.overrides:
        # confirmation keeps the full per-epoch curves (the kind's default), whatever the search ran with
        raw = dataclasses.replace(raw, overrides={"curves": True, **raw.overrides})
    check(
        raw.tie_break_direction is None or raw.tie_break is not None,
        "confirm.tie_break",
        "expected the metric that tie_break_direction orders (a stored trial metric, e.g. val_split_min_task_acc)",
    )
    metric = raw.metric
    if metric is None and metrics[0].startswith("val_"):
        metric = "test_" + metrics[0][len("val_") :]
    if metric is None:
        check(not given, "confirm.metric", f"expected the test metric to confirm {metrics[0]!r} on")
        return None
    for path, values in (
        ("confirm.overrides", raw.overrides),
        *((f"confirm.also.{label}", v) for label, v in raw.also.items()),
    ):
        try:
            replace_paths(config, {**values, **raw.overrides})
        except ConfigError as err:
            raise SpecError(f"{path}.{err.path}", err.message) from None
    return dataclasses.replace(raw, metric=metric)


def parse_spec(
    doc: Any, source: str = "<string>", *, storage: str | None = None, ray_address: str | None = None
) -> StudySpec:
    """Validate a loaded YAML document. ``storage``/``ray_address`` override the file."""
    try:
        file = validate_file(doc)
        exp_raw = dict(file.experiment)
        kind = exp_raw.pop("kind", None)
        check(isinstance(kind, str), "experiment.kind", f"expected an experiment kind name, got {kind!r}")
        experiment = get_experiment(kind, "experiment.kind")
        config = from_dict(experiment.config_cls, exp_raw, "experiment")
        space = _space(file.search_space, config)
        study = _study(file.study, space, storage)
        config = _decide_on_validation(config, exp_raw, study.metrics)
        resources = file.resources
        address = ray_address or resources.ray_address
        resources = dataclasses.replace(
            resources, ray_address=_interpolate(address, "resources.ray_address") if address else None
        )
        check(
            study.replicates == 1 or "seed" in field_paths(type(config)),
            "study.replicates",
            f"experiment kind {kind!r} has no seed to replicate; expected 1, got {study.replicates}",
        )
        check(
            resources.population == 1 or experiment.run_population is not None,
            "resources.population",
            f"experiment kind {kind!r} cannot train trials together; expected 1, got {resources.population}",
        )
        confirm = _confirm(file.confirm, bool(doc.get("confirm")), study.metrics, config)
    except SpecError:
        raise
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
    return StudySpec(
        study=study,
        kind=kind,
        experiment=config,
        search_space=space,
        resources=resources,
        confirm=confirm,
        source=source,
    )


def load_spec(path: str | os.PathLike, *, storage: str | None = None, ray_address: str | None = None) -> StudySpec:
    """Read and validate a study file. Environment ``SPARSESEARCH_STORAGE`` overrides the storage."""
    storage = storage or os.environ.get("SPARSESEARCH_STORAGE") or None
    try:
        return parse_spec(read_yaml(Path(path)), str(path), storage=storage, ray_address=ray_address)
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
