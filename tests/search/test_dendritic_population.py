"""resources.population for ``dendritic``: one worker trains several dANN trials in one batched model.

Each trial gets the outcome of its own unbatched run (COMPLETE with the same value, PRUNED by
the study's pruner); trials whose shapes differ are split into groups, not refused; a bad
``resources.population`` is one line naming the field.
"""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.trial import TrialState

from core import NullReporter, RunContext, get_experiment
from core.config import from_dict
from search.launch import prepare_study
from search.store import artifact_store, read_record
from search.studyfile import SpecError, make_pruner, make_sampler, parse_spec
from search.trial import Objective, run_trials
from tests.helpers import MNIST_DIR

pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.usefixtures("mnist_dir"),
]


def _doc(tmp_path, **over) -> dict:
    doc = {
        "study": {
            "name": "dpop",
            "storage": f"sqlite:///{tmp_path}/s.db",
            "artifacts": str(tmp_path / "art"),
            "direction": "maximize",
            "metric": "test_acc",
            "n_trials": 4,
            "sampler": {"name": "random", "seed": 3},
            "pruner": {"name": "none"},
        },
        "experiment": {
            "kind": "dendritic",
            "model": {"n_somata": 32},
            "plots": False,
            "plasticity": {"every_steps": 10},
            "train": {"epochs": 2, "train_subset": 1920, "test_subset": 500, "batch_size": 32},
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True},
            "plasticity.criterion": {"type": "categorical", "choices": ["smallest", "ema", "stochastic"]},
            "seed": {"type": "int", "low": 0, "high": 1000},
        },
        "resources": {"workers": 1, "population": 4},
    }
    for key, value in over.items():
        doc[key] = {**doc[key], **value}
    return doc


def _round(monkeypatch, doc: dict, size: int) -> optuna.Study:
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    spec = parse_spec(doc)
    study = prepare_study(spec)
    study.sampler = make_sampler(spec.study.sampler)  # the file's seeded sampler and pruner, as a worker sets them
    study.pruner = make_pruner(spec.study.pruner)
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


def _alone(tmp_path, trial):
    exp = get_experiment("dendritic")
    cfg = from_dict(exp.config_cls, read_record(trial).config)
    return exp.run(
        cfg, NullReporter(), RunContext(workdir=tmp_path / f"alone{trial.number}", threads=1, data_dir=MNIST_DIR)
    )


def test_each_member_gets_the_value_of_its_own_unbatched_run(tmp_path, monkeypatch) -> None:
    trials = _round(monkeypatch, _doc(tmp_path), 4).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({t.params["seed"] for t in trials}) == 4, "members really differ"
    for t in trials:
        alone = _alone(tmp_path, t)
        assert t.value == alone.metrics["test_acc"]
        assert read_record(t).metrics["synapses_moved"] == alone.metrics["synapses_moved"]


def test_pruned_members_end_pruned_and_the_others_complete(tmp_path, monkeypatch) -> None:
    # lr 1e-6 learns nothing in epoch 1: the threshold pruner stops it; lr 1e-2 passes
    slow, fast = {"train.lr": 1.0e-6}, {"train.lr": 1.0e-2}
    doc = _doc(
        tmp_path,
        study={
            "pruner": {"name": "threshold", "lower": 0.4},
            "enqueue": [{**slow, "seed": 1}, {**fast, "seed": 2}, {**slow, "seed": 3}],
        },
    )
    doc["search_space"]["train.lr"]["low"] = 1.0e-6
    trials = _round(monkeypatch, doc, 3).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.PRUNED]
    assert trials[1].value == _alone(tmp_path, trials[1]).metrics["test_acc"]


def test_trials_of_different_shapes_are_split_into_groups(tmp_path, monkeypatch) -> None:
    doc = _doc(tmp_path, study={"enqueue": [{"model.n_somata": n, "seed": s} for s, n in enumerate((16, 32, 16, 32))]})
    doc["search_space"]["model.n_somata"] = {"type": "categorical", "choices": [16, 32]}
    trials = _round(monkeypatch, doc, 4).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [t.params["model.n_somata"] for t in trials] == [16, 32, 16, 32]
    for t in trials:
        assert t.value == _alone(tmp_path, t).metrics["test_acc"]


@pytest.mark.parametrize("value", [0, -2, 2.5, "four"])
def test_a_bad_population_is_one_line_naming_the_field(tmp_path, value) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_doc(tmp_path, resources={"population": value}))
    assert info.value.path == "resources.population" and "\n" not in str(info.value)
    assert not (tmp_path / "s.db").exists(), "nothing created"
