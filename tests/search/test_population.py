"""resources.population: a worker trains several trials in one batched model and tells each its own outcome."""

from __future__ import annotations

import dataclasses
import threading

import optuna
import pytest
from optuna.trial import TrialState

from core import NullReporter, RunContext, get_experiment
from core.config import from_dict
from search.launch import prepare_study
from search.store import artifact_store, read_record
from search.studyfile import SpecError, make_sampler, parse_spec
from search.trial import Objective, run_trials
from tests.helpers import run_cli, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _imp_doc(tmp_path, **resources) -> dict:
    return {
        "study": {
            "name": "pop",
            "storage": f"sqlite:///{tmp_path}/s.db",
            "artifacts": str(tmp_path / "art"),
            "direction": "maximize",
            "metric": "val_min_task_acc",
            "n_trials": 4,
            "sampler": {"name": "random", "seed": 3},
            "pruner": {"name": "none"},
        },
        "experiment": {
            "kind": "imp",
            "data": {"n_samples": 200},
            "model": {"widths": [8, 8]},
            "train": {"max_epochs": 6, "patience": 3},
            "imp": {"levels": 2, "target_params": 30},
            "analysis": {"plots": False, "trajectories": False},
            "checkpoint": False,
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 1.0e-3, "high": 5.0e-2, "log": True},
            "imp.target_params": {"type": "int", "low": 20, "high": 60},
            "seed": {"type": "int", "low": 0, "high": 1000},
        },
        "resources": {"workers": 1, "population": 4, **resources},
    }


def _round(tmp_path, doc: dict, size: int) -> optuna.Study:
    spec = parse_spec(doc)
    study = prepare_study(spec)
    study.sampler = make_sampler(spec.study.sampler)  # the file's seeded sampler, as a worker sets it
    objective = Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id="t",
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )
    assert run_trials(study, objective, size, heartbeat_s=1.0, batched=True) == size
    return study


def test_each_member_gets_the_value_of_its_own_unbatched_run(tmp_path) -> None:
    trials = _round(tmp_path, _imp_doc(tmp_path), 4).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({t.params["seed"] for t in trials}) == 4, "members really differ"
    imp = get_experiment("imp")
    for t in trials:
        alone = imp.run(
            from_dict(imp.config_cls, read_record(t).config),
            NullReporter(),
            RunContext(workdir=tmp_path / f"alone{t.number}", threads=1),
        )
        assert t.value == alone.metrics["val_min_task_acc"]
        assert read_record(t).metrics["n_params"] == alone.metrics["n_params"]
        assert read_record(t).metrics["split_level"] == alone.metrics["split_level"]


def test_a_member_that_stops_fails_alone_with_its_reason(tmp_path) -> None:
    doc = _imp_doc(tmp_path, trial_timeout=1.0e-6)  # every reporter raises at the first level
    trials = _round(tmp_path, doc, 3).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert all(read_record(t).fail_reason.startswith("TrialTimeout: exceeded trial_timeout") for t in trials)


def test_population_needs_a_kind_that_can_batch() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(study_doc("p", resources={"population": 4}))
    assert info.value.path == "resources.population" and "cannot train trials together" in str(info.value)


@pytest.mark.slow
def test_a_launch_with_population_runs_its_budget(tmp_path, write_study) -> None:
    path = write_study(_imp_doc(tmp_path), "pop.yaml")
    out = run_cli("search.launch", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    study = optuna.load_study(study_name="pop", storage=f"sqlite:///{tmp_path}/s.db")
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 4
    assert len({read_record(t).worker for t in study.get_trials()}) == 1, "one worker trained all four"


def test_a_failed_trial_leaves_checkpoints_and_its_retry_resumes(tmp_path, monkeypatch) -> None:
    from search.trial import TrialReporter, build_config

    doc = _imp_doc(tmp_path)
    doc["experiment"].update(checkpoint=True, imp={"levels": 3, "target_params": 30})
    doc["search_space"] = {"train.lr": {"type": "categorical", "choices": [0.01]}}
    doc["study"]["enqueue"] = [{"train.lr": 0.01}, {"train.lr": 0.01}]
    doc["resources"] = {"workers": 1}
    spec = parse_spec(doc)
    study = prepare_study(spec)
    stop = threading.Event()
    objective = Objective(
        spec, device="cpu", threads=1, launch_id="t", artifacts=artifact_store(spec.study.artifacts), stop=stop
    )
    report = TrialReporter.report

    def stop_after_level_1(self, step, metrics):  # the launcher's Ctrl-C, arriving during level 2
        report(self, step, metrics)
        if step == 1:
            stop.set()

    monkeypatch.setattr(TrialReporter, "report", stop_after_level_1)
    run_trials(study, objective, 1, heartbeat_s=1.0, batched=False)
    first = study.get_trials()[0]
    config = build_config(spec, first.params)
    workdir = objective.workdir(config)
    assert first.state == TrialState.FAIL and read_record(first).fail_reason.startswith("Interrupted")
    assert sorted(p.name for p in (workdir / "imp_checkpoints").glob("level_*.pt")) == ["level_000.pt", "level_001.pt"]

    monkeypatch.setattr(TrialReporter, "report", report)
    stop.clear()
    run_trials(study, objective, 1, heartbeat_s=1.0, batched=False)
    retry = study.get_trials()[1]
    assert retry.state == TrialState.COMPLETE
    assert [h["step"] for h in read_record(retry).history] == [2, 3], "levels 0 and 1 were not trained again"
    alone = get_experiment("imp").run(config, NullReporter(), RunContext(workdir=tmp_path / "alone", threads=1))
    assert (
        retry.value == alone.metrics["val_min_task_acc"]
        and read_record(retry).metrics["n_params"] == alone.metrics["n_params"]
    )
    assert not workdir.exists(), "a completed trial's work directory is removed"


def test_a_configuration_trains_once_per_round_and_later_rounds_repeat_it(tmp_path) -> None:
    """Two members with one configuration (an enqueued baseline popped twice): one trains, the other
    records its result; a later round's copy is a repeat too."""
    doc = _imp_doc(tmp_path)
    doc["study"]["enqueue"] = [{"train.lr": 0.01, "imp.target_params": 30, "seed": 1}]
    spec = parse_spec(doc)
    study = prepare_study(spec)
    for _ in range(2):
        study.enqueue_trial({"train.lr": 0.01, "imp.target_params": 30, "seed": 1})
    objective = Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id="t",
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )
    calls, run_population = [], objective.experiment.run_population
    objective.experiment = dataclasses.replace(
        objective.experiment, run_population=lambda cfgs, *a: calls.append(len(cfgs)) or run_population(cfgs, *a)
    )
    run_trials(study, objective, 3, heartbeat_s=1.0, batched=True)
    study.enqueue_trial({"train.lr": 0.01, "imp.target_params": 30, "seed": 1}, skip_if_exists=False)
    run_trials(study, objective, 1, heartbeat_s=1.0, batched=True)
    trials = study.get_trials()
    assert calls == [1], "one member trained; the twins waited for it"
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    trained = [t for t in trials if read_record(t).repeat_of is None]
    assert len(trained) == 1 and all(read_record(t).repeat_of in (None, trained[0].number) for t in trials)
    assert len({t.value for t in trials}) == 1
