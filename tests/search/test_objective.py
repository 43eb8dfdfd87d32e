"""The objective in-process (no Ray): attributes, pruning, time limit, multi-objective, every sampler."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.trial import TrialState

from search.launch import prepare_study
from search.store import read_record
from search.studyfile import PRUNERS, SAMPLERS, parse_spec
from tests.helpers import optimize_here, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _run(tmp_path, doc: dict, n: int) -> optuna.Study:
    """Run ``n`` trials of the study ``doc`` in this process, as one worker would."""
    return optimize_here(tmp_path, doc, n)


def test_trial_timeout_fails_with_reason(tmp_path) -> None:
    doc = study_doc("timeout", experiment={"steps": 6, "step_seconds": 0.3}, resources={"trial_timeout": 0.5})
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert trial.state == TrialState.FAIL
    # The step depends on machine load (the trial's own storage writes count too); never all 6 steps.
    assert re.match(r"TrialTimeout: exceeded trial_timeout of 0.5 s at step [1-3]$", read_record(trial).fail_reason)


def test_median_pruner_prunes_bad_curves_and_records_why(tmp_path) -> None:
    doc = study_doc(
        "prune",
        study={
            "pruner": {"name": "median", "n_startup_trials": 1},
            "enqueue": [{"x": 2.0, "y": -1.0}, {"x": -3.0, "y": 3.0}],
        },
    )
    good, bad = _run(tmp_path, doc, 2).get_trials()
    assert good.state == TrialState.COMPLETE and bad.state == TrialState.PRUNED
    assert read_record(bad).fail_reason.startswith("pruned at step 1 with loss=")
    assert bad.intermediate_values == {1: pytest.approx(25 + 16 + 1)}


def test_missing_metric_is_named(tmp_path) -> None:
    doc = study_doc("metric", study={"metric": "accuracy"})
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert trial.state == TrialState.FAIL
    assert "returned no metric 'accuracy'; it returned loss, n_params" in read_record(trial).fail_reason


def test_multi_objective_values_and_metric_names(tmp_path) -> None:
    doc = study_doc("multi", study={"directions": ["minimize", "minimize"], "metrics": ["loss", "n_params"]})
    del doc["study"]["direction"], doc["study"]["metric"]
    study = _run(tmp_path, doc, 3)
    assert study.metric_names == ["loss", "n_params"]
    assert all(t.values[1] == 2.0 for t in study.get_trials())


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_every_sampler_runs_a_study(tmp_path, name: str) -> None:
    doc = study_doc(f"s-{name}", study={"sampler": {"name": name}})
    if name in ("grid", "bruteforce"):  # finite spaces only
        doc["search_space"] = {
            "x": {"type": "categorical", "choices": [1.0, 2.0]},
            "y": {"type": "categorical", "choices": [-1, 0]},
        }
    if name in ("nsga2", "nsga3"):  # multi-objective samplers
        doc["study"].update(directions=["minimize", "minimize"], metrics=["loss", "n_params"])
        del doc["study"]["direction"], doc["study"]["metric"]
    study = _run(tmp_path, doc, 4)
    assert sum(t.state == TrialState.COMPLETE for t in study.get_trials()) == 4
    if name == "grid":
        assert {(t.params["x"], t.params["y"]) for t in study.get_trials()} == {
            (1.0, -1),
            (1.0, 0),
            (2.0, -1),
            (2.0, 0),
        }


@pytest.mark.parametrize("name", PRUNERS.names())
def test_every_pruner_is_reachable_from_yaml(tmp_path, name: str) -> None:
    args = {
        "threshold": {"upper": 100.0},
        "percentile": {"percentile": 50.0},
        "patient": {"patience": 1, "wrapped": {"name": "median"}},
    }.get(name, {})
    study = _run(tmp_path, study_doc(f"p-{name}", study={"pruner": {"name": name, **args}}), 3)
    assert all(t.state.is_finished() for t in study.get_trials())


def test_grid_cells_are_queued_once_and_list_choices_enqueue(tmp_path) -> None:
    doc = {
        "study": {
            "name": "grid",
            "storage": f"sqlite:///{tmp_path}/study.db",
            "artifacts": str(tmp_path / "a"),
            "direction": "maximize",
            "metric": "test_acc",
            "n_trials": 4,
            "sampler": {"name": "grid"},
            "enqueue": [{"train.lr": 0.02, "model.widths": [8, 8]}],
        },
        "experiment": {"kind": "imp", "imp": {"target_params": 20}},
        "search_space": {
            "train.lr": {"type": "categorical", "choices": [0.01, 0.02]},
            "model.widths": {"type": "categorical", "choices": [[8, 8], [16]]},
        },
    }
    spec = parse_spec(doc)
    prepare_study(spec)
    study = prepare_study(spec)  # a resume queues nothing twice
    queued = [t.system_attrs["fixed_params"] for t in study.get_trials()]
    assert queued[0] == {"train.lr": 0.02, "model.widths": "[8, 8]"} and len(queued) == 4
    cells = [{"train.lr": a, "model.widths": b} for a in (0.01, 0.02) for b in ("[8, 8]", "[16]")]
    assert sorted(map(str, queued)) == sorted(map(str, cells))


def test_a_finished_trials_metrics_and_run_facts_are_flat_user_attributes(tmp_path) -> None:
    """optuna-dashboard's trial table and ``trials_dataframe()`` show flat user attributes as columns."""
    (trial,) = _run(tmp_path, study_doc("flat", study={"n_trials": 1}), 1).get_trials()
    assert trial.state == TrialState.COMPLETE
    attrs = trial.user_attrs
    assert attrs["loss"] == trial.value  # the objective metric
    assert attrs["n_params"] == 2.0 and attrs["device"] == "cpu"
    assert isinstance(attrs["wall_time_s"], float) and attrs["wall_time_s"] > 0
    for key in ("seed", "config_hash", "version", "git_commit", "worker", "launch_id", "sampler_seed"):
        assert key in attrs and not isinstance(attrs[key], (dict, list)), key
    assert "run" not in attrs and "result" not in attrs


def test_trials_dataframe_has_a_column_per_metric(tmp_path) -> None:
    pytest.importorskip("pandas")  # optuna's trials_dataframe needs it; not a dependency of the project
    study = _run(tmp_path, study_doc("frame", study={"n_trials": 2}), 2)
    frame = study.trials_dataframe()
    for key in ("loss", "n_params", "wall_time_s", "device", "seed", "config_hash"):
        assert f"user_attrs_{key}" in frame.columns, key
    assert list(frame["user_attrs_loss"]) == [t.value for t in study.trials]
    assert set(frame["user_attrs_device"]) == {"cpu"}
