"""Kind-specific report sections come from the kinds' table (search.report.kind_table), not from
branches in the generic report: a kind's line puts its sections in report.md and the dashboard
note; a kind without one gets the generic report only. What a step is comes from the core kind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from optuna_dashboard import get_note

import search.report.kind_table as table
from core import get_experiment
from search.report import write_report
from search.report.kinds import KindSections
from tests.helpers import ROOT
from tests.search.test_report import make_study, mixed_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_the_built_in_kinds_have_sections_and_step_units_and_others_the_generic_report() -> None:
    assert set(table.KIND_SECTIONS) == {"dendritic", "imp"}
    assert get_experiment("dendritic").step_unit == "epoch" and get_experiment("imp").step_unit == "IMP level"
    assert get_experiment("synthetic").step_unit == "step"
    assert table.kind_sections("synthetic", None) == KindSections()


def test_the_kinds_types_import_no_kind_so_there_is_no_cycle() -> None:
    tree = ast.parse((ROOT / "search" / "report" / "kinds.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"search.report.dendritic", "search.report.imp", "search.report.kind_table"}


def test_a_kinds_line_writes_its_sections_into_the_report_and_note(write_study, tmp_path, monkeypatch) -> None:
    _, spec, study = make_study(write_study, mixed_doc("hooked"), n_trials=5)
    seen = []

    def sections(inputs):
        seen.append(inputs)
        return KindSections(["## The synthetic answer", "", "x is best near 2."], [], ["- x is best near 2."])

    monkeypatch.setitem(table.KIND_SECTIONS, "synthetic", sections)
    text = Path(write_report(study, spec, tmp_path / "out")).read_text()
    assert "## The synthetic answer" in text and "- x is best near 2." in get_note(study)
    assert [t.number for t in seen[0].done] == [t.number for t in study.trials if t.state.name == "COMPLETE"]
    assert seen[0].conf is None and seen[0].out == tmp_path / "out"


def test_without_a_line_the_report_has_no_kind_section(write_study, tmp_path) -> None:
    _, spec, study = make_study(write_study, mixed_doc("plain"), n_trials=5)
    text = Path(write_report(study, spec, tmp_path / "out")).read_text()
    assert "## The synthetic answer" not in text and "## Search-space bounds" in text
