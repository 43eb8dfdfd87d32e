"""What an experiment kind adds to the morning report: the types of a kind's answer sections.

The generic report (:mod:`search.report.command`, :mod:`search.report.answers`) knows no kind by
name. The kinds' section writers (:mod:`search.report.dendritic`, :mod:`search.report.imp`) take a
:class:`ReportInputs` and return :class:`KindSections`; :mod:`search.report.kind_table` lists them,
one line per kind, and a kind not in it gets the generic report only. What a reported step is
(the learning curves' x axis) is the kind's own fact: ``core.contract.Experiment.step_unit``.
This module imports no kind, so the writers import it without a cycle.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from search.report.confirmed import Confirmation
from search.studyfile import StudySpec

__all__ = ["KindSections", "ReportInputs"]


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
