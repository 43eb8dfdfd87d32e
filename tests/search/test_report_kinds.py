"""Kind-specific report sections come from the kind's hook (search.report.kinds), not from branches
in the generic report: a hook registered for a kind puts its lines in report.md and the dashboard
note; a kind without one gets the generic report only."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna_dashboard import get_note

import search.report.kinds as kinds
from search.report import write_report
from search.report.kinds import KindReport, KindSections, kind_report, register_report
from tests.search.test_report import make_study, mixed_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_the_built_in_kinds_have_hooks_and_others_the_generic_one() -> None:
    assert kind_report("dendritic").step_unit == "epoch" and kind_report("imp").step_unit == "IMP level"
    generic = kind_report("synthetic")
    assert generic.step_unit == "step" and generic.sections(None) == KindSections()


def test_a_registered_hook_writes_its_sections_into_the_report_and_note(write_study, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kinds, "_REPORTS", dict(kinds._REPORTS))
    _, spec, study = make_study(write_study, mixed_doc("hooked"), n_trials=5)
    seen = []

    def sections(inputs):
        seen.append(inputs)
        return KindSections(["## The synthetic answer", "", "x is best near 2."], [], ["- x is best near 2."])

    register_report("synthetic", KindReport(step_unit="tick", sections=sections))
    text = Path(write_report(study, spec, tmp_path / "out")).read_text()
    assert "## The synthetic answer" in text and "- x is best near 2." in get_note(study)
    assert [t.number for t in seen[0].done] == [t.number for t in study.trials if t.state.name == "COMPLETE"]
    assert seen[0].conf is None and seen[0].out == tmp_path / "out"
    with pytest.raises(ValueError, match="registered already"):
        register_report("synthetic", KindReport())


def test_without_a_hook_the_report_has_no_kind_section(write_study, tmp_path) -> None:
    _, spec, study = make_study(write_study, mixed_doc("plain"), n_trials=5)
    text = Path(write_report(study, spec, tmp_path / "out")).read_text()
    assert "## The synthetic answer" not in text and "## Search-space bounds" in text
