"""``python -m search.dashboard STUDY.yaml``: optuna-dashboard on a study, on loopback by default,
and the child process the launcher runs it in.

Imports :mod:`search.store` and :mod:`search.studyfile`."""

from __future__ import annotations

from search.dashboard.command import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DashboardError,
    add_arguments,
    is_loopback,
    main,
    run,
    study_url,
)
from search.dashboard.process import DashboardProcess

__all__ = [
    "add_arguments",
    "DashboardError",
    "DashboardProcess",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "is_loopback",
    "main",
    "run",
    "study_url",
]
