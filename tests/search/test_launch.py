"""A real launch: 2 Ray workers on one SQLite study, then resume, then check the storage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from tests.helpers import run_cli, study_doc

pytestmark = pytest.mark.slow


def _load(path: Path) -> optuna.Study:
    doc = yaml.safe_load(path.read_text())
    return optuna.load_study(study_name=doc["study"]["name"], storage=doc["study"]["storage"])


def test_launch_then_resume_keeps_and_counts_trials(write_study, tmp_path: Path, storage_url: str,
                                                    study_name: str) -> None:
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
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "both Ray workers pulled trials"
    t0 = trials[0]
    assert t0.params == {"x": 2.0, "y": -1.0}, "the enqueued configuration runs first"
    assert t0.value == pytest.approx(1 / 3)  # synthetic: floor 0 at (2, -1) plus 1/steps
    for key in ("loss", "n_params", "wall_time_s", "device", "config", "config_hash", "seed", "version",
                "git_commit"):
        assert key in t0.user_attrs, key
    assert t0.user_attrs["config"]["x"] == 2.0 and t0.user_attrs["device"] == "cpu"
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
