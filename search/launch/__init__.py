"""``python -m search.launch STUDY.yaml``: create or resume a study, start Ray workers that pull
trials, follow progress, leave nothing RUNNING, and write the morning report.

Imports every package but :mod:`search.confirm`."""

from __future__ import annotations

from search.launch.command import LaunchResult, add_arguments, main, run, run_args
from search.launch.prepare import prepare_study
from search.launch.worker import StudyWorker, overhead, sampler_seed

__all__ = [
    "add_arguments",
    "LaunchResult",
    "main",
    "overhead",
    "prepare_study",
    "run",
    "run_args",
    "sampler_seed",
    "StudyWorker",
]
