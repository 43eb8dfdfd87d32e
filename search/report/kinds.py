"""What an experiment kind adds to the morning report: a hook per kind, not branches in the report.

The generic report (:mod:`search.report.command`, :mod:`search.report.answers`) knows no kind by
name. A kind registers a :class:`KindReport` (as the core registers its ``Experiment``): the name
of one reported step (the learning curves' x axis) and the function that writes its answer
sections. The built-in kinds register theirs in :mod:`search.report.dendritic` and
:mod:`search.report.imp`; a kind with no hook gets the generic report only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from search.report.confirmed import Confirmation
from search.studyfile import StudySpec

__all__ = ["KindReport", "KindSections", "ReportInputs", "kind_report", "register_report"]


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """What a kind's sections may read: the study, its spec, its COMPLETE trials, the linked
    confirmation (None before ``python -m search.confirm``), the importances, the output folder."""

    study: optuna.Study
    spec: StudySpec
    done: list[FrozenTrial]
    conf: Confirmation | None
    importances: dict
    out: Path


@dataclasses.dataclass(frozen=True)
class KindSections:
    """Report lines (Markdown), the figures they link to, and the lines for the dashboard note."""

    lines: list[str] = dataclasses.field(default_factory=list)
    figures: list[Path] = dataclasses.field(default_factory=list)
    note: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class KindReport:
    """One kind's hook: ``step_unit`` names a reported step; ``sections`` writes its answers."""

    step_unit: str = "step"
    sections: Callable[[ReportInputs], KindSections] = lambda inputs: KindSections()


_REPORTS: dict[str, KindReport] = {}


def register_report(kind: str, report: KindReport) -> KindReport:
    """Register ``report`` as experiment ``kind``'s hook (once per kind)."""
    if kind in _REPORTS:
        raise ValueError(f"a report hook for experiment kind {kind!r} is registered already")
    _REPORTS[kind] = report
    return report


def kind_report(kind: str) -> KindReport:
    """Experiment ``kind``'s hook, or the generic one (no sections, steps called "step")."""
    import search.report.dendritic  # noqa: F401  (the built-in kinds register on import)
    import search.report.imp  # noqa: F401

    return _REPORTS.get(kind, KindReport())
