"""A real launch: 2 Ray workers on one SQLite study, then resume, then check the storage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.artifacts import get_all_artifact_meta

from search.store import read_record
from tests.helpers import run_cli, study_doc

pytestmark = pytest.mark.slow


def _load(path: Path) -> optuna.Study:
    doc = yaml.safe_load(path.read_text())
    return optuna.load_study(study_name=doc["study"]["name"], storage=doc["study"]["storage"])


def test_launch_then_resume_keeps_and_counts_trials(
    write_study, tmp_path: Path, storage_url: str, study_name: str
) -> None:
    doc = study_doc(study_name, study={"n_trials": 6, "enqueue": [{"x": 2.0, "y": -1.0}], "storage": storage_url})
    path = write_study(doc)
    first = run_cli("search.launch", str(path), "--dashboard", "--dashboard-port", "0", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "dashboard: http://127.0.0.1:" in first.stdout, "--dashboard serves beside the launch"
    assert "best loss (minimize)" in first.stdout and "COMPLETE" in first.stdout
    assert "python -m search.dashboard" in first.stdout

    study = _load(path)
    trials = study.get_trials()
    states = Counter(t.state for t in trials)
    assert states[optuna.trial.TrialState.COMPLETE] >= 6 and optuna.trial.TrialState.RUNNING not in states
    # Which workers pull trials depends on load (no start barrier); that both run trials at once is
    # shown by the fault tests, which wait for two RUNNING trials. Here: every trial names its worker.
    assert 1 <= len({read_record(t).worker for t in trials}) <= 2
    t0 = trials[0]
    assert t0.params == {"x": 2.0, "y": -1.0}, "the enqueued configuration runs first"
    assert t0.value == pytest.approx(1 / 3)  # synthetic: floor 0 at (2, -1) plus 1/steps
    record = read_record(t0)
    assert {"loss", "n_params"} <= set(record.metrics)
    for key in ("wall_time_s", "device", "config", "config_hash", "seed", "version", "git_commit"):
        assert getattr(record, key) is not None, key
    assert record.config["x"] == 2.0 and record.device == "cpu"
    assert study.metric_names == ["loss"]

    again = run_cli("search.launch", str(path), cwd=tmp_path)
    assert again.returncode == 0 and "already has" in again.stdout
    assert len(_load(path).get_trials()) == len(trials), "resume with the budget met adds nothing"

    doc["study"]["n_trials"] = 9
    more = run_cli("search.launch", str(write_study(doc)), cwd=tmp_path)
    assert more.returncode == 0, more.stdout + more.stderr
    after = _load(path).get_trials()
    done = [t for t in after if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL]
    assert 9 <= len(done) <= 10, "counts the earlier trials; at most workers-1 overshoot"
    assert [t.number for t in after[: len(trials)]] == [t.number for t in trials]
    assert sum(t.params == {"x": 2.0, "y": -1.0} for t in after) == 1, "enqueued config not duplicated"


# Loss at step 1 is floor + 1: above the threshold for these two, so they are pruned at step 1.
PRUNED_X = [{"x": -3.0, "y": 2.0}, {"x": -3.0, "y": -3.0}]


def test_a_launch_that_prunes_counts_pruned_trials_and_reports_them(
    write_study, tmp_path: Path, study_name: str
) -> None:
    """Pruned trials use up the budget, the progress display says so, and the report the launch
    writes at the end (under the working directory) matches the storage."""
    enqueue = [PRUNED_X[0], {"x": 2.0, "y": -1.0}, PRUNED_X[1], {"x": 1.0, "y": 0.0}]
    doc = study_doc(
        study_name,
        study={"n_trials": 4, "enqueue": enqueue, "pruner": {"name": "threshold", "upper": 5.0}},
        experiment={"steps": 3, "step_seconds": 0.0},
        resources={"workers": 1},
    )
    path = write_study(doc)
    done = run_cli("search.launch", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    study = _load(path)
    trials = study.get_trials()
    states = {t.number: t.state.name for t in trials}
    assert states == {0: "PRUNED", 1: "COMPLETE", 2: "PRUNED", 3: "COMPLETE"}, "pruned trials count: 4, not 6"
    assert read_record(trials[0]).fail_reason == "pruned at step 1 with loss=35"
    assert "trial    0 PRUNED   pruned at step 1 with loss=35" in done.stdout
    assert "[4/4] running 0 | waiting 0 | pruned 2 | failed 0 | best 0.33333 |" in done.stdout

    report = tmp_path / "runs" / study_name / "report" / "report.md"
    assert f"report written: {report.relative_to(tmp_path)}" in done.stdout and "report not written" not in done.stderr
    text = report.read_text()
    for state, n in Counter(t.state.name for t in trials).items():
        assert f"| {state} | {n} |" in text
    assert "| total | 4 |" in text and "| FAIL | 0 |" in text and "| RUNNING | 0 |" in text
    assert "## Pruned trials (2)" in text and text.count("pruned at step 1 with loss=") == 2
    assert "| 1 | 1 | 0.3333 | 2 | -1 |" in text and "### Best trial 1" in text
    names = {m.filename for m in get_all_artifact_meta(study)}
    assert {"report.md", "optimization_history.png", "intermediate_values.png"} <= names
