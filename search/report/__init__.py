"""``python -m search.report STUDY.yaml``: the morning report (Markdown, PNGs, the dashboard note),
the answer sections each experiment kind adds, and the one-line trial texts the launcher prints.

Imports :mod:`search.confirm` (its statistics), :mod:`search.store` and :mod:`search.studyfile`."""

from __future__ import annotations

from search.report.bounds import bound_flags, suggestion_yaml
from search.report.command import add_arguments, main, report_dir, run, write_report
from search.report.imp import first_split, split_by_level
from search.report.overview import summary
from search.report.progress import Progress, describe_trial, short

__all__ = [
    "add_arguments",
    "bound_flags",
    "describe_trial",
    "first_split",
    "main",
    "Progress",
    "report_dir",
    "run",
    "short",
    "split_by_level",
    "suggestion_yaml",
    "summary",
    "write_report",
]
