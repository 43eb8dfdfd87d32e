"""Rerunning a stored trial: a deterministic synthetic trial reproduces exactly; bad input is one
line with exit 2; a trial that raised raises again (exit 1). Studies are made in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from search.rerun import main
from search.store import read_record
from tests.helpers import study_doc
from tests.search.test_report import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
KNOWN = [{"x": 1.0, "y": 0.5, "fail": "none"}, {"x": 0.0, "y": 0.0, "fail": "raise"}]


@pytest.fixture
def rerun_study(write_study):
    """Trial 0 completes, trial 1 raises at step 1, trial 2 failed before it started (no config)."""
    doc = study_doc(
        "rr",
        study={"enqueue": KNOWN},
        experiment={"steps": 3, "step_seconds": 0.0},
        search_space={"fail": {"type": "categorical", "choices": ["none", "raise"]}},
    )
    path, spec, study = make_study(write_study, doc, n_trials=2)
    study.tell(study.ask(), state=TrialState.FAIL)
    return path, study


def rerun_rows(out: str) -> dict[str, list[str]]:
    """metric → [stored, rerun, diff] from the printed table."""
    rows = [[c.strip() for c in line.split("|")] for line in out.splitlines() if line.count(" | ") == 3]
    return {r[0]: r[1:] for r in rows[1:]}


def test_rerun_reproduces_a_deterministic_trial(rerun_study, capsys) -> None:
    path, study = rerun_study
    assert main([str(path), "--trial", "0"]) == 0
    out = capsys.readouterr().out
    stored = read_record(study.trials[0])
    assert f"config hash {stored.config_hash}: matches the stored one" in out
    rows = rerun_rows(out)
    assert list(rows) == ["loss", "n_params"], "the objective first, then the other metrics"
    assert rows["loss"] == [f"{stored.metrics['loss']:.4g}", f"{stored.metrics['loss']:.4g}", "0"]
    assert rows["n_params"] == ["2", "2", "0"]
    assert "history: identical over all 3 steps" in out
    assert "step    3  loss=" in out, "PrintReporter shows the steps"
    assert f"version: stored {stored.version}, current {stored.version} (same)" in out
    assert f"git commit: stored {stored.git_commit}, current " in out
    assert "device: stored cpu, rerun cpu" in out


def test_rerun_of_a_raising_trial_raises_again(rerun_study, capsys) -> None:
    path, _ = rerun_study
    assert main([str(path), "--trial", "1", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "note: the stored trial is FAIL" in out
    assert "rerun failed: RuntimeError: synthetic failure at step 1" in out
    assert "stored fail_reason: RuntimeError: synthetic failure at step 1" in out


def test_bad_input_one_line_exit_2(rerun_study, tmp_path: Path, capsys) -> None:
    path, _ = rerun_study
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = [
        ([str(path), "--trial", "7"], "--trial: no trial 7 in study 'rr'; expected one of 0..2"),
        ([str(path), "--trial", "2"], "--trial: trial 2 (FAIL) has no stored config"),
        ([str(tmp_path / "nope.yaml"), "--trial", "0"], "nope.yaml: cannot read the study file"),
        ([str(path), "--trial", "0", "--storage", f"sqlite:///{tmp_path}/none.db"], "study.storage: no study database"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append(([str(path), "--trial", "0", "--device", "cuda"], "--device: cuda is not available"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
        assert message in captured.err and captured.out == "", captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "bad input creates nothing"


def test_rerun_of_a_replicated_trial_reruns_every_seed(tmp_path, capsys) -> None:
    """A trial of study.replicates 2 (its seeds trained as one population) reruns both seeds and
    reproduces its means, spreads and mean history exactly."""
    import yaml

    from tests.helpers import optimize_here
    from tests.search.test_never_reads_test import imp_doc

    doc = imp_doc()
    doc["study"]["n_trials"] = 1
    (trial,) = optimize_here(tmp_path, doc, 1, population=4).get_trials()
    path = tmp_path / "rep.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main([str(path), "--trial", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "replicates: seeds 0, 1" in out
    rows = rerun_rows(out)
    for name in ("val_split_min_task_acc", "val_split_min_task_acc_std", "split_ticket", "n_seeds", "val_acc"):
        assert rows[name][2] == "0", (name, rows[name])
    assert rows["n_seeds"][:2] == ["2", "2"]
    assert "history: identical over all" in out
