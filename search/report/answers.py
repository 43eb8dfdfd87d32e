"""The answers in the morning report and their summary as an optuna-dashboard note.

:func:`answers` returns the report's answer sections: "Confirmed on test" (the linked
confirmation study, :mod:`search.report.confirmed`), then the experiment kind's own sections
(its line in :mod:`search.report.kind_table`), then "Search-space bounds"
(:mod:`search.report.bounds`). :func:`save_summary_note` writes the short summary (key answer,
confirmation table, the kind's main lines, the bounds section; no links) as the study's note,
which optuna-dashboard shows on the study page.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial
from optuna_dashboard import save_note

from search.confirm import format_table
from search.report.bounds import bounds_section
from search.report.confirmed import confirmed_section, key_answer, load_confirmation
from search.report.kind_table import kind_sections
from search.report.kinds import ReportInputs
from search.studyfile import StudySpec

__all__ = ["Answers", "answers", "save_summary_note"]


@dataclasses.dataclass(frozen=True)
class Answers:
    lines: list[str]  # Markdown for report.md
    figures: list[Path]  # PNGs the lines link to (uploaded with the report)
    note: str  # the dashboard note's body


def answers(study: optuna.Study, spec: StudySpec, done: list[FrozenTrial], importances: dict, out: Path) -> Answers:
    """The answer sections of the report, their figures and the summary note."""
    conf = load_confirmation(study, spec)
    lines = confirmed_section(spec, conf)
    kind = kind_sections(spec.kind, ReportInputs(study, spec, done, conf, importances, out))
    more, figures, kind_note = kind.lines, kind.figures, kind.note
    sections = [*lines, *more]
    bounds = bounds_section(spec, done)  # the same lines in report.md and in the note
    sections += [""] if sections and sections[-1] else []
    return Answers([*sections, *bounds, ""], figures, _note(spec, len(done), conf, kind_note, bounds))


def _note(spec: StudySpec, n_done: int, conf, kind_note: list[str], bounds: list[str]) -> str:
    head = [
        f"# Morning answer: {spec.study.name}",
        "",
        f"Experiment `{spec.kind}`, {n_done} completed search trials, chosen on "
        f"`{spec.study.metrics[0]}` (validation).",
    ]
    if conf is None:
        body = [
            "",
            f"Not confirmed on test yet (python -m search.confirm {spec.source}): the search's best "
            "values are validation figures on the search's own seeds, not results to publish.",
        ]
    else:
        body = [
            "",
            key_answer(conf),
            "",
            format_table(spec, conf.table),
            "",
            "The test set was used only by this confirmation, on fresh seeds.",
        ]
    tail = (["", *kind_note] if kind_note else []) + ["", *bounds]
    return (
        "\n".join(
            [*head, *body, *tail, "", "The full report (report.md) and its figures are among the study's artifacts."]
        )
        + "\n"
    )


def save_summary_note(study: optuna.Study, body: str) -> None:
    """Write ``body`` as the study's optuna-dashboard note (replacing an earlier one).

    A storage that refuses costs only the note, said in one line: report.md is written already."""
    try:
        save_note(study, body)
    except Exception as err:  # noqa: BLE001  the report on disk is what matters
        print(f"warning: the summary note was not saved on the study: {type(err).__name__}: {err}", file=sys.stderr)
