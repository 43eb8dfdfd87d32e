"""The study file: YAML read safely, each section declared once (pydantic), checked against
the experiment, and resolved into one frozen :class:`StudySpec` the rest of the service reads.

Imports ``core`` (the experiment configs) and nothing else of ``search``."""

from __future__ import annotations

from search.studyfile.samplers import PRUNERS, SAMPLERS, make_pruner, make_sampler
from search.studyfile.sections import StudyFile, validate_file
from search.studyfile.space import Param, encode, parse_param, suggest, to_optuna
from search.studyfile.spec import SpecError, StudySpec, load_spec, parse_duration, parse_spec

__all__ = [
    "encode",
    "load_spec",
    "make_pruner",
    "make_sampler",
    "Param",
    "parse_duration",
    "parse_param",
    "parse_spec",
    "PRUNERS",
    "SAMPLERS",
    "SpecError",
    "StudyFile",
    "StudySpec",
    "suggest",
    "to_optuna",
    "validate_file",
]
