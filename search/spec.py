"""Study files: YAML → a validated, frozen :class:`StudySpec`.

A study file has four sections (see ``studies/quickstart.yaml``)::

    study:        name, storage, direction(s), metric(s), sampler, pruner, n_trials, timeout, enqueue,
                  replicates
    experiment:   kind + the experiment's fixed hyperparameters (nested like its config)
    search_space: dotted hyperparameter name → distribution
    resources:    workers, cpus_per_trial, gpus_per_trial, ray_address, trial_timeout, max_retries
    confirm:      (optional) how ``python -m search.confirm`` re-runs the best: metric, overrides, top, seeds

Everything is checked before anything touches storage or disk; a mistake raises
:class:`SpecError` whose message names the dotted path, the value and what was expected.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from sqlalchemy.engine import make_url

from core import ConfigError, get_experiment
from core.config import check, field_paths, from_dict, replace_path, replace_paths
from search.choices import make_pruner, make_sampler
from search.space import Param, parse_param
from search.yamlfile import MAX_FILE_BYTES, SpecError, read_yaml

__all__ = ["SpecError", "StudySpec", "StudySection", "Resources", "ConfirmSection", "load_spec", "parse_spec", "parse_duration",
           "check_write_path", "MAX_FILE_BYTES"]

_SECTIONS = {"study", "experiment", "search_space", "resources", "confirm"}
_CONFIRM_KEYS = {"metric", "overrides", "top", "seeds"}
_STUDY_KEYS = {"name", "storage", "artifacts", "direction", "directions", "metric", "metrics", "sampler",
               "pruner", "n_trials", "timeout", "enqueue", "replicates"}
_RESOURCE_KEYS = {"workers", "cpus_per_trial", "gpus_per_trial", "ray_address", "trial_timeout",
                  "max_retries", "heartbeat_interval", "population"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, kw_only=True)
class StudySection:
    name: str
    storage: str
    artifacts: str
    directions: tuple[str, ...]
    metrics: tuple[str, ...]
    sampler: Mapping[str, Any]
    pruner: Mapping[str, Any]
    n_trials: int | None
    timeout_s: float | None
    enqueue: tuple[Mapping[str, Any], ...] = ()
    replicates: int = 1  # seeds per trial: config.seed, config.seed + 1, ... (search/replicates.py)


@dataclass(frozen=True, kw_only=True)
class Resources:
    workers: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    ray_address: str | None = None
    trial_timeout_s: float | None = None
    max_retries: int = 2
    heartbeat_interval: int = 10
    population: int = 1  # trials a worker trains at once in one batched model (search/population.py)


@dataclass(frozen=True, kw_only=True)
class ConfirmSection:
    """How the best configurations are confirmed on fresh seeds (``search/confirm.py``)."""

    metric: str  # the test metric confirmed; default: the study's ``val_X`` metric as ``test_X``
    overrides: Mapping[str, Any]  # dotted experiment fields set for confirmation (data.val_size: 0)
    top: int = 3
    seeds: int = 5


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


def parse_duration(value: Any, path: str) -> float:
    """``90`` (seconds), ``"90s"``, ``"30m"``, ``"8h"``, ``"1d"`` → seconds (> 0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
        check(m is not None, path, f"expected a duration like 90, '30m', '8h', got {value!r}")
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    check(0 < seconds < float("inf"), path, f"expected a positive duration, got {value!r}")
    return seconds


def _interpolate(text: str, path: str) -> str:
    def sub(m: re.Match) -> str:
        check(m.group(1) in os.environ, path, f"environment variable {m.group(1)} is not set")
        return os.environ[m.group(1)]

    return _VAR.sub(sub, text)


def _section(doc: Mapping[str, Any], key: str, allowed: set[str] | None, required: bool = True) -> dict:
    raw = doc.get(key)
    if raw is None and not required:
        return {}
    check(isinstance(raw, Mapping), key, f"expected a mapping, got {raw!r}" if key in doc else "missing section")
    if allowed is not None:
        for k in raw:
            check(k in allowed, f"{key}.{k}", f"unknown key; expected one of {', '.join(sorted(allowed))}")
    return dict(raw)


def _number(raw: dict, key: str, path: str, default: Any, *, integer: bool, low: float, strict: bool = False):
    value = raw.get(key, default)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    ok = ok and (float(value).is_integer() if integer else True)
    ok = ok and (value > low if strict else value >= low) and value != float("inf")
    what = "an integer" if integer else "a number"
    check(ok, f"{path}.{key}", f"expected {what} {'>' if strict else '>='} {low:g}, got {value!r}")
    return int(value) if integer else float(value)


def _objectives(raw: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    for one, many in (("direction", "directions"), ("metric", "metrics")):
        check(not (one in raw and many in raw), f"study.{many}", f"give either {one} or {many}, not both")
    dirs = raw.get("directions", [raw.get("direction", "minimize")])
    mets = raw.get("metrics", [raw.get("metric", "loss")])
    check(isinstance(dirs, list) and dirs, "study.directions", f"expected a non-empty list, got {dirs!r}")
    check(isinstance(mets, list) and mets, "study.metrics", f"expected a non-empty list, got {mets!r}")
    for d in dirs:
        check(d in ("minimize", "maximize"), "study.direction", f"expected minimize or maximize, got {d!r}")
    for m in mets:
        check(isinstance(m, str) and m, "study.metric", f"expected a metric name, got {m!r}")
    check(len(dirs) == len(mets), "study.metrics", f"expected {len(dirs)} metric names, one per direction, "
          f"got {len(mets)}")
    return tuple(dirs), tuple(mets)


def _study(raw: dict, space: tuple[Param, ...], env_storage: str | None) -> StudySection:
    name = raw.get("name")
    check(isinstance(name, str) and bool(_NAME.match(name)), "study.name",
          f"expected letters, digits, '-', '_' or '.' (at most 100), got {name!r}")
    storage = env_storage or raw.get("storage") or f"sqlite:///runs/{name}/study.db"
    check(isinstance(storage, str), "study.storage", f"expected a URL string, got {storage!r}")
    from_file = not env_storage
    storage = _interpolate(storage, "study.storage")
    _check_storage(storage, from_file)
    artifacts = raw.get("artifacts", f"runs/{name}/artifacts")
    check(isinstance(artifacts, str) and artifacts != "", "study.artifacts",
          f"expected a directory, got {artifacts!r}")
    artifacts = _interpolate(artifacts, "study.artifacts")
    check_write_path(artifacts, "study.artifacts")
    directions, metrics = _objectives(raw)
    grid = {p.name: p.encoded_choices for p in space} if all(p.type == "categorical" for p in space) else None
    sampler_raw = raw.get("sampler", {"name": "tpe"})
    pruner_raw = raw.get("pruner", {"name": "median"})
    make_sampler(sampler_raw, grid)  # validates the name and arguments now, not in a worker
    make_pruner(pruner_raw)
    n_trials = _number(raw, "n_trials", "study", None, integer=True, low=1)
    timeout = parse_duration(raw["timeout"], "study.timeout") if raw.get("timeout") is not None else None
    check(n_trials is not None or timeout is not None, "study.n_trials", "expected n_trials and/or timeout")
    enqueue = raw.get("enqueue", [])
    check(isinstance(enqueue, list), "study.enqueue", f"expected a list of mappings, got {enqueue!r}")
    replicates = _number(raw, "replicates", "study", 1, integer=True, low=1)
    check(replicates is not None, "study.replicates", "expected an integer >= 1, got None")
    as_map = lambda v: v if isinstance(v, Mapping) else {"name": v}  # noqa: E731
    return StudySection(name=name, storage=storage, artifacts=artifacts,
                        directions=directions, metrics=metrics, sampler=as_map(sampler_raw),
                        pruner=as_map(pruner_raw), n_trials=n_trials, timeout_s=timeout,
                        enqueue=tuple(enqueue), replicates=replicates)


def check_write_path(path: str, field: str) -> None:
    """The rule for paths a study file makes the service write to (artifacts, the SQLite file).

    A relative path is resolved under the current directory (the run directory) and may not
    contain a ``..`` component, so it cannot climb out of it. An absolute path is the operator's
    explicit choice and is allowed, but never with ``..`` either (no ``/data/../etc`` disguises).
    """
    check("\0" not in path, field, "expected a path without NUL characters")
    check(".." not in PurePosixPath(path.replace("\\", "/")).parts, field, "expected a path without '..' "
          f"components (relative paths stay under the run directory), got {path!r}")


def _check_storage(url: str, from_file: bool) -> None:
    """A URL SQLAlchemy can parse, naming a database file for SQLite. Errors never show the password."""
    check(bool(re.match(r"^(sqlite|postgresql|mysql)(\+\w+)?://", url)), "study.storage",
          "expected a URL starting with sqlite:///, postgresql:// or mysql://")
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001  (ValueError for a bad port, ArgumentError for the rest)
        raise SpecError("study.storage", "expected a URL like postgresql://user:${PGPASSWORD}@host:5432/db "
                        "(host, numeric port, database); this one cannot be parsed") from None
    if parsed.get_backend_name() == "sqlite":
        check(parsed.database not in (None, "", ":memory:"), "study.storage",
              "expected sqlite:///PATH/TO/study.db (a file: workers in other processes share it)")
        if from_file:  # an operator's --storage / $SPARSESEARCH_STORAGE is their own choice
            check_write_path(parsed.database, "study.storage")


def _resources(raw: dict, ray_address: str | None) -> Resources:
    p = "resources"
    address = ray_address or raw.get("ray_address")
    check(address is None or isinstance(address, str), f"{p}.ray_address", f"expected host:port, got {address!r}")
    timeout = raw.get("trial_timeout")
    return Resources(
        workers=_number(raw, "workers", p, 2, integer=True, low=1),
        cpus_per_trial=_number(raw, "cpus_per_trial", p, 1.0, integer=False, low=0, strict=True),
        gpus_per_trial=_number(raw, "gpus_per_trial", p, 0.0, integer=False, low=0),
        ray_address=_interpolate(address, f"{p}.ray_address") if address else None,
        trial_timeout_s=parse_duration(timeout, f"{p}.trial_timeout") if timeout is not None else None,
        max_retries=_number(raw, "max_retries", p, 2, integer=True, low=0),
        heartbeat_interval=_number(raw, "heartbeat_interval", p, 10, integer=True, low=1),
        population=_number(raw, "population", p, 1, integer=True, low=1),
    )


def _space(raw: dict, config: Any) -> tuple[Param, ...]:
    known = field_paths(type(config))
    params = []
    for name, entry in raw.items():
        path = f"search_space.{name}"
        check(name in known, path, "unknown hyperparameter of this experiment; expected one of "
              + ", ".join(sorted(known)))
        param = parse_param(name, entry, path)
        probes = param.choices if param.type == "categorical" else (param.low, param.high)
        for value in probes:  # every choice and both bounds must make a valid config
            try:
                replace_path(config, name, value)
            except ConfigError as err:
                raise SpecError(path, f"value {value!r} is invalid for the experiment: {err.message}") from None
        params.append(param)
    return tuple(params)


def _check_enqueue(entries: tuple[Mapping[str, Any], ...], space: tuple[Param, ...]) -> None:
    names = {p.name for p in space}
    for i, entry in enumerate(entries):
        check(isinstance(entry, Mapping) and len(entry) > 0, f"study.enqueue[{i}]",
              f"expected a mapping of search_space names to values, got {entry!r}")
        for key in entry:
            check(key in names, f"study.enqueue[{i}].{key}",
                  f"not in search_space; expected one of {', '.join(sorted(names))}")


def _confirm(raw: dict, metrics: tuple[str, ...], config: Any) -> ConfirmSection | None:
    metric = raw.get("metric")
    if metric is None and metrics[0].startswith("val_"):
        metric = "test_" + metrics[0][len("val_"):]
    if metric is None:
        check(not raw, "confirm.metric", f"expected the test metric to confirm {metrics[0]!r} on")
        return None
    check(isinstance(metric, str) and metric != "", "confirm.metric", f"expected a metric name, got {metric!r}")
    overrides = raw.get("overrides", {})
    check(isinstance(overrides, Mapping), "confirm.overrides", f"expected a mapping of experiment fields, got "
          f"{overrides!r}")
    try:
        replace_paths(config, overrides)
    except ConfigError as err:
        raise SpecError(f"confirm.overrides.{err.path}", err.message) from None
    return ConfirmSection(metric=metric, overrides=dict(overrides),
                          top=_number(raw, "top", "confirm", 3, integer=True, low=1),
                          seeds=_number(raw, "seeds", "confirm", 5, integer=True, low=2))


def parse_spec(doc: Any, source: str = "<string>", *, storage: str | None = None,
               ray_address: str | None = None) -> StudySpec:
    """Validate a loaded YAML document. ``storage``/``ray_address`` override the file."""
    try:
        check(isinstance(doc, Mapping), "", f"expected a mapping with sections {', '.join(sorted(_SECTIONS))}")
        for key in doc:
            check(key in _SECTIONS, str(key), f"unknown section; expected one of {', '.join(sorted(_SECTIONS))}")
        exp_raw = _section(doc, "experiment", None)
        kind = exp_raw.pop("kind", None)
        check(isinstance(kind, str), "experiment.kind", f"expected an experiment kind name, got {kind!r}")
        experiment = get_experiment(kind, "experiment.kind")
        config = from_dict(experiment.config_cls, exp_raw, "experiment")
        space = _space(_section(doc, "search_space", None), config)
        check(len(space) > 0, "search_space", "expected at least one hyperparameter to search")
        study = _study(_section(doc, "study", _STUDY_KEYS), space, storage)
        _check_enqueue(study.enqueue, space)
        resources = _resources(_section(doc, "resources", _RESOURCE_KEYS, required=False), ray_address)
        check(study.replicates == 1 or "seed" in field_paths(type(config)), "study.replicates",
              f"experiment kind {kind!r} has no seed to replicate; expected 1, got {study.replicates}")
        check(resources.population == 1 or experiment.run_population is not None, "resources.population",
              f"experiment kind {kind!r} cannot train trials together; expected 1, got {resources.population}")
        confirm = _confirm(_section(doc, "confirm", _CONFIRM_KEYS, required=False), study.metrics, config)
    except SpecError:
        raise
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
    return StudySpec(study=study, kind=kind, experiment=config, search_space=space,
                     resources=resources, confirm=confirm, source=source)


def load_spec(path: str | os.PathLike, *, storage: str | None = None, ray_address: str | None = None) -> StudySpec:
    """Read and validate a study file. Environment ``SPARSESEARCH_STORAGE`` overrides the storage."""
    storage = storage or os.environ.get("SPARSESEARCH_STORAGE") or None
    try:
        return parse_spec(read_yaml(Path(path)), str(path), storage=storage, ray_address=ray_address)
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
