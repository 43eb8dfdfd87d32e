"""A worker's population round is refilled: a slot freed by a finished or pruned trial takes the next
trial from the sampler at the next epoch boundary, while the budget allows; trials are told as
they end, each with the value of its own run alone, and the worker counts how full it was.

These drive the worker's own loop (:class:`search.launch.worker.StudyWorker`) in this process."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from search.launch import prepare_study
from search.launch.worker import StudyWorker
from search.store import Heartbeats, read_record
from search.studyfile import parse_spec
from tests.helpers import MNIST_DIR
from tests.search.test_dendritic_population import _alone, _doc

pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.usefixtures("mnist_dir"),
]


def _worker(monkeypatch, doc: dict):
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    spec = parse_spec(doc)
    study = prepare_study(spec)
    stats = StudyWorker(spec, index=0, launch_id="refill", deadline=None).run()
    return study, stats


def test_freed_slots_take_the_next_trials_and_each_keeps_its_own_value(tmp_path, monkeypatch) -> None:
    # Population 3, budget 6. Trial 0 trains 1 epoch, 1 and 2 train 3: trial 3 takes 0's slot
    # after epoch 1 and trains 1 epoch, trial 4 takes 3's after epoch 2, trial 5 (1 epoch) the
    # two slots 1 and 2 free after epoch 3 (then the budget is spent).
    epochs = [1, 3, 3, 1, 2, 1]
    doc = _doc(
        tmp_path,
        study={"n_trials": 6, "enqueue": [{"train.epochs": e, "seed": s} for s, e in enumerate(epochs)]},
        resources={"population": 3},
    )
    doc["search_space"]["train.epochs"] = {"type": "int", "low": 1, "high": 3}
    discarded, real = [], Heartbeats.discard
    monkeypatch.setattr(Heartbeats, "discard", lambda self, tid: (discarded.append(tid), real(self, tid)))
    study, stats = _worker(monkeypatch, doc)
    trials = study.get_trials()
    assert sorted(discarded) == sorted(t._trial_id for t in trials)  # no beats for a trial once told
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6 and stats["trials"] == 6
    assert [len(t.intermediate_values) for t in trials] == epochs
    # one population: the joined trials started before the first ones had all ended
    last_of_first = max(t.datetime_complete for t in trials[:3])
    assert all(t.datetime_start < last_of_first for t in trials[3:5])
    # told as they end: trial 0 before trials 1 and 2, trial 3 before trial 4
    assert trials[0].datetime_complete < trials[3].datetime_complete < min(t.datetime_complete for t in trials[1:3])
    # member-epochs over slot-epochs: 3 full epochs, then trial 4 (epoch 2 of 2) with trial 5 (1 of 1)
    assert stats["fill"] == (sum(epochs), 3 * 4)
    for t in trials[3:5]:  # joined members: the value of their run alone, bitwise
        assert t.value == _alone(tmp_path, t).metrics["test_acc"]


def test_a_pruned_trials_seeds_leave_together_and_the_slots_refill(tmp_path, monkeypatch) -> None:
    # Replicates 2 in a population of 4: trial 0 (lr 1e-6) is pruned after epoch 1 by the
    # threshold pruner, both its seeds leave at once, and trial 2 takes their slots.
    slow, fast = {"train.lr": 1.0e-6}, {"train.lr": 1.0e-2}
    doc = _doc(
        tmp_path,
        study={
            "n_trials": 3,
            "replicates": 2,
            "pruner": {"name": "threshold", "lower": 0.4},
            "enqueue": [{**slow, "seed": 1}, {**fast, "seed": 3}, {**fast, "seed": 5}],
        },
        resources={"population": 4},
    )
    doc["search_space"]["train.lr"]["low"] = 1.0e-6
    study, stats = _worker(monkeypatch, doc)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[2].datetime_start < trials[1].datetime_complete, "trial 2 joined the running population"
    assert read_record(trials[2]).n_seeds == 2
    assert stats["fill"] == (4 + 4 + 2, 4 * 3)  # epochs 1, 2 full; trial 2's second epoch alone
