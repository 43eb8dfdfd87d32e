"""The study file's typed shape: one pydantic declaration per key, and errors as one line.

Each section is a frozen pydantic dataclass with unknown keys forbidden; a key is declared
once, here, with its type, default and bound, and that one declaration gives validation,
the attribute the rest of the service reads and the JSON Schema (:mod:`search.schema`).
What needs more than one section (the experiment's own fields, search-space bounds against
the experiment, the sampler's arguments, the storage URL) is checked by :mod:`search.studyfile.spec`.
The experiment section is the core's own config: its fields are declared in ``core/``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, WithJsonSchema
from pydantic.dataclasses import dataclass

from core.config import check
from core.errors import ConfigError
from search.studyfile.experiment_schema import experiment_core_schema
from search.studyfile.field_errors import one_line
from search.studyfile.samplers import PRUNERS, SAMPLERS
from search.studyfile.yamlfile import SpecError

__all__ = ["ConfirmSection", "Resources", "StudyFile", "StudySection", "parse_duration", "validate_file"]

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, validate_by_name=True, validate_by_alias=True)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
_DURATION = r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$"


def parse_duration(value: Any, path: str) -> float:
    """``90`` (seconds), ``"90s"``, ``"30m"``, ``"8h"``, ``"1d"`` → seconds (> 0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = re.fullmatch(_DURATION, str(value))
        check(m is not None, path, f"expected a duration like 90, '30m', '8h', got {value!r}")
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    check(0 < seconds < float("inf"), path, f"expected a positive duration, got {value!r}")
    return seconds


def _number(kind: type, low: float, *, strict: bool = False) -> Any:
    """An int or float field with a lower bound. YAML's ``yes``/``"3"`` are not numbers here."""
    what = f"{'an integer' if kind is int else 'a number'} {'>' if strict else '>='} {low:g}"

    def number(v: Any) -> Any:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (kind is float or float(v).is_integer()) and (v > low if strict else v >= low)
        check(ok, "", f"expected {what}, got {v!r}")
        return kind(v)

    return Annotated[kind, Field(gt=low) if strict else Field(ge=low), BeforeValidator(number)]


def _value(kind: type) -> Any:
    """A search-space bound or step: a finite number (an integer for int), never YAML's yes or "3"."""
    what = "an integer" if kind is int else "a finite number"

    def value(v: Any) -> Any:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        check(ok and (kind is float or float(v).is_integer()), "", f"expected {what}, got {v!r}")
        return kind(v)

    return Annotated[kind, BeforeValidator(value)]


def _duration(v: Any) -> Any:
    return None if v is None else parse_duration(v, "")


def _named(registry: Any) -> Any:
    """``name`` or ``{name: NAME, ARG: VALUE, ...}`` (Optuna constructor arguments) → a mapping."""

    def named(v: Any) -> Any:
        check(isinstance(v, (str, Mapping)), "", f"expected a name or a mapping with 'name', got {v!r}")
        return {"name": v} if isinstance(v, str) else v

    names = {"enum": registry.names()}
    schema = {
        "anyOf": [
            names,
            {"type": "object", "properties": {"name": names}, "required": ["name"], "additionalProperties": True},
        ]
    }
    return Annotated[Mapping[str, Any], BeforeValidator(named), WithJsonSchema(schema)]


def _text(pattern: str, expected: str) -> Any:
    def text(v: Any) -> Any:
        check(isinstance(v, str) and re.match(pattern, v) is not None, "", f"expected {expected}, got {v!r}")
        return v

    return Annotated[str, Field(pattern=pattern), BeforeValidator(text)]


Count = _number(int, 1)
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": _DURATION}]}),
]
Direction = Literal["minimize", "maximize"]
Metric = Annotated[str, Field(min_length=1)]


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class StudySection:
    """``study:``: the Optuna study, its objective(s) and budget (``n_trials`` and/or ``timeout``)."""

    name: _text(_NAME, "letters, digits, '-', '_' or '.' (at most 100)") = Field(
        description="The study's name in storage; also names the default run directory runs/NAME/."
    )
    storage: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///runs/NAME/study.db. ${VAR} is read from the environment."
    )
    artifacts: str | None = Field(None, description="Directory for trial files; default runs/NAME/artifacts.")
    direction: Direction | None = Field(None, description="One objective; shorthand for directions: [X].")
    directions: tuple[Direction, ...] | None = Field(None, description="One per metric (default minimize).")
    metric: Metric | None = Field(None, description="One objective; shorthand for metrics: [X].")
    metrics: tuple[Metric, ...] | None = Field(None, description="Names of the metrics optimised (default loss).")
    sampler: _named(SAMPLERS) = Field(default_factory=lambda: {"name": "tpe"})
    pruner: _named(PRUNERS) = Field(default_factory=lambda: {"name": "median"})
    n_trials: Count | None = Field(None, description="Trials to finish (with timeout: whichever comes first).")
    timeout_s: Duration | None = Field(None, alias="timeout", description="Wall time: 90, '30m', '8h', '1d'.")
    enqueue: tuple[dict[str, Any], ...] = Field((), description="Trials run first: search_space names → values.")
    replicates: Count = Field(
        1, description="Seeds per trial: config.seed, config.seed + 1, ...; the trial's value is their mean."
    )

    def __post_init__(self) -> None:  # the singular keys are folded into the plural ones
        for one, many, default in (("direction", "directions", "minimize"), ("metric", "metrics", "loss")):
            check(
                getattr(self, one) is None or getattr(self, many) is None,
                many,
                f"give either {one} or {many}, not both",
            )
            if getattr(self, many) is None:
                object.__setattr__(self, many, (getattr(self, one) or default,))
            object.__setattr__(self, one, None)
        check(len(self.directions) > 0, "directions", "expected a non-empty list, got []")
        check(
            len(self.metrics) == len(self.directions),
            "metrics",
            f"expected {len(self.directions)} metric names, one per direction, got {len(self.metrics)}",
        )
        check(self.n_trials is not None or self.timeout_s is not None, "n_trials", "expected n_trials and/or timeout")
        for key, default in (("storage", "sqlite:///runs/{}/study.db"), ("artifacts", "runs/{}/artifacts")):
            if getattr(self, key) is None:
                object.__setattr__(self, key, default.format(self.name))
        check(self.artifacts != "", "artifacts", "expected a directory, got ''")


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class Resources:
    """``resources:``: how many workers, what each trial needs, where Ray runs."""

    workers: Count = Field(2, description="Ray actors pulling trials.")
    cpus_per_trial: _number(float, 0, strict=True) = 1.0
    gpus_per_trial: _number(float, 0) = Field(
        0.0, description="GPUs per worker: a fraction below 1 (0.25: four workers share a GPU) or a whole number."
    )
    ray_address: str | None = Field(None, description="host:port of a running Ray cluster; ${VAR} allowed.")
    trial_timeout_s: Duration | None = Field(None, alias="trial_timeout", description="A longer trial fails.")
    max_retries: _number(int, 0) = Field(2, description="Re-runs of a trial whose worker died.")
    heartbeat_interval: Count = Field(10, description="Seconds between a running trial's heartbeats.")
    max_consecutive_failures: _number(int, 0) = Field(
        5,
        description="A worker whose last this-many trials all failed stops (their cause printed); "
        "a completed or pruned trial resets the count; 0: never stop.",
    )
    population: Count = Field(
        1,
        description="Trainings (trials x study.replicates) a worker trains at once in one batched model "
        "(imp, dendritic); a slot freed by a training that ended takes the next trial at the next epoch "
        "(dendritic).",
    )

    def __post_init__(self) -> None:
        g = self.gpus_per_trial
        # Ray places a fraction of one GPU or whole GPUs; 1.5 would end in Ray's own traceback.
        check(
            g < 1 or float(g).is_integer(),
            "gpus_per_trial",
            f"expected a fraction below 1 or a whole number, got {g:g}",
        )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class ConfirmSection:
    """``confirm:``: how ``python -m search.confirm`` re-runs the best configurations on fresh seeds."""

    metric: Metric | None = Field(
        None, description="The test metric confirmed; default: the study's val_X metric as test_X."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Dotted experiment fields set for confirmation, e.g. data.val_size: 0."
    )
    top: Count = Field(3, description="How many of the best configurations are confirmed.")
    tie_break: Metric | None = Field(
        None,
        description="A metric stored on every search trial (a user attribute, e.g. "
        "val_split_min_task_acc) that orders configurations with the same objective value, in "
        "tie_break_direction; default: ties go by trial number. For an objective with few values, "
        "such as a 0/1 rate over 5 seeds.",
    )
    tie_break_direction: Direction | None = Field(
        None, description="maximize or minimize for tie_break; default: the study's direction."
    )
    seeds: _number(int, 2) = Field(5, description="Fresh seeds per configuration.")
    also: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="More configurations confirmed "
        "beside the best: label -> dotted experiment fields set on the "
        "baseline (the first enqueued configuration), e.g. "
        "{'no resampling': {plasticity.enabled: false}}.",
    )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class _Numeric:
    low: _value(float)
    high: _value(float)
    log: bool = False
    step: _value(float) | None = None


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class FloatParam(_Numeric):
    type: Literal["float"]


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class IntParam(_Numeric):
    type: Literal["int"]
    low: _value(int)
    high: _value(int)
    step: _value(int) | None = None


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class CategoricalParam:
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1, description="Scalars, or lists/mappings of them.")


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _some(v: Any) -> Any:
    check(not (isinstance(v, Mapping) and len(v) == 0), "", "expected at least one hyperparameter to search")
    return v


class _ExperimentSchema:
    """The experiment section is validated by the core (``core.config.from_dict``); its schema is
    generated from the core's config dataclasses by :mod:`search.studyfile.experiment_schema`."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        return handler(experiment_core_schema())


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class StudyFile:
    """A study file (``python -m search.launch FILE``); see ``studies/quickstart.yaml``."""

    study: StudySection
    experiment: Annotated[dict[str, Any], _ExperimentSchema()]
    search_space: Annotated[dict[str, SearchParam], BeforeValidator(_some), Field(min_length=1)] = Field(
        description="Dotted experiment field → distribution."
    )
    resources: Annotated[Resources, BeforeValidator(lambda v: {} if v is None else v)] = field(
        default_factory=Resources
    )
    confirm: ConfirmSection | None = None


_FILE = TypeAdapter(StudyFile)


def validate_file(doc: Any) -> StudyFile:
    """The study file's sections, typed, or a :class:`SpecError` naming the first wrong field."""
    try:
        return _FILE.validate_python(doc)
    except ValidationError as err:
        path, message = one_line(err, StudyFile)
        raise SpecError(path, message) from None
    except ConfigError as err:
        raise SpecError(err.path, err.message) from None
