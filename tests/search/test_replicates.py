"""study.replicates: a trial evaluates its configuration on several seeds and is judged by their mean."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from core import NullReporter, RunContext, get_experiment
from core.config import from_dict
from search.store import read_record
from search.studyfile import SpecError, parse_spec
from search.trial import ReplicateReporter, combine, spread
from tests.helpers import optimize_here, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _run(tmp_path, doc: dict, n: int) -> optuna.Study:
    return optimize_here(tmp_path, doc, n)


def _alone(config: dict, seed: int) -> float:
    exp = get_experiment("synthetic")
    cfg = from_dict(exp.config_cls, {**config, "seed": seed})
    return exp.run(cfg, NullReporter(), RunContext()).metrics["loss"]


def test_spread_of_known_values() -> None:
    s = spread([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5
    assert s["std"] == pytest.approx(1.2909944487358056)  # sample standard deviation, ddof 1
    assert s["sem"] == pytest.approx(1.2909944487358056 / 2)
    assert spread([0.0, 1.0, 1.0, 1.0])["mean"] == 0.75  # a rate: the fraction of seeds
    assert spread([5.0]) == {"mean": 5.0, "std": 0.0, "sem": 0.0}


def test_trial_value_is_the_mean_over_seeds_with_its_spread(tmp_path) -> None:
    doc = study_doc(
        "rep",
        study={"replicates": 3, "enqueue": [{"x": 1.0, "y": 0.5}]},
        experiment={"steps": 3, "step_seconds": 0.0, "noise": 0.7, "seed": 10},
    )
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert trial.state == TrialState.COMPLETE
    record = read_record(trial)
    per_seed = [_alone(record.config, s) for s in (10, 11, 12)]
    assert len(set(per_seed)) == 3, "the seeds really differ"
    assert trial.value == pytest.approx(sum(per_seed) / 3, rel=1e-12)
    rep = record.replicates
    assert rep["seeds"] == (10, 11, 12) and list(rep["per_seed"]["loss"]) == per_seed
    assert record.metrics["loss_std"] == pytest.approx(spread(per_seed)["std"])
    assert record.metrics["loss_sem"] == pytest.approx(spread(per_seed)["sem"])
    assert record.n_seeds == 3.0
    # every intermediate value is the mean of the seeds' values at that step
    offsets = [p - (1.0 - 2.0) ** 2 - (0.5 + 1.0) ** 2 - 1.0 / 3 for p in per_seed]
    for step in (1, 2, 3):
        mean = sum((1.0 - 2.0) ** 2 + (0.5 + 1.0) ** 2 + 1.0 / step + o for o in offsets) / 3
        assert trial.intermediate_values[step] == pytest.approx(mean, rel=1e-12)


def test_a_failing_seed_fails_the_trial_with_its_reason(tmp_path) -> None:
    doc = study_doc(
        "repfail",
        study={"replicates": 3},
        experiment={"steps": 3, "step_seconds": 0.0, "fail": "raise", "fail_at_step": 2, "fail_seed": 1},
    )
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert trial.state == TrialState.FAIL
    assert read_record(trial).fail_reason == "ReplicateFailed: seed 1: RuntimeError: synthetic failure at step 2"


def test_one_replicate_is_the_plain_trial(tmp_path) -> None:
    doc = study_doc(
        "rep1",
        study={"replicates": 1, "enqueue": [{"x": 1.0, "y": 0.5}]},
        experiment={"steps": 2, "step_seconds": 0.0, "noise": 0.7, "seed": 4},
    )
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert trial.value == _alone(read_record(trial).config, 4)
    assert read_record(trial).replicates is None and "loss_std" not in read_record(trial).metrics


class _Pruning:
    """A trial reporter that prunes at step 2."""

    def __init__(self) -> None:
        self.reported: list[tuple[int, dict]] = []

    def check(self, step: int) -> None:
        pass

    def report(self, step: int, metrics) -> None:
        self.reported.append((step, dict(metrics)))
        if step == 2:
            raise optuna.TrialPruned("pruned at step 2")


def test_reports_are_the_mean_once_every_seed_reached_the_step_and_a_prune_stops_every_seed() -> None:
    owner = _Pruning()
    rep = ReplicateReporter(owner, 2)
    a, b = rep.seed(0), rep.seed(1)
    a.report(1, {"loss": 1.0})
    assert owner.reported == []  # seed 1 has not reached step 1 yet
    b.report(1, {"loss": 3.0})
    assert owner.reported == [(1, {"loss": 2.0})]
    a.report(2, {"loss": 0.0})
    with pytest.raises(optuna.TrialPruned):
        b.report(2, {"loss": 0.0})
    with pytest.raises(optuna.TrialPruned):  # the seed still training stops at its next report
        a.report(3, {"loss": 0.0})
    assert isinstance(combine([RuntimeError("x"), RuntimeError("y")], [0, 1], ["loss"], rep.error), optuna.TrialPruned)


@pytest.mark.parametrize("value", [0, -1, 2.5, "three", True])
def test_bad_replicates_name_the_field(value) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(study_doc("bad", study={"replicates": value}))
    assert info.value.path == "study.replicates"


def test_replicates_trained_as_population_members_equal_their_runs_alone(tmp_path) -> None:
    from tests.search.test_never_reads_test import imp_doc

    doc = imp_doc()
    doc["study"]["n_trials"] = 2
    trials = optimize_here(tmp_path, doc, 2, population=4).get_trials()  # 2 trials x 2 seeds: one population
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    imp = get_experiment("imp")
    for t in trials:
        assert read_record(t).replicates["seeds"] == (0, 1)
        alone = [
            imp.run(
                from_dict(imp.config_cls, {**read_record(t).config, "seed": s}),
                NullReporter(),
                RunContext(workdir=tmp_path / f"alone{t.number}-{s}", threads=1),
            )
            for s in (0, 1)
        ]
        per_seed = [r.metrics["val_split_min_task_acc"] for r in alone]
        assert list(read_record(t).replicates["per_seed"]["val_split_min_task_acc"]) == per_seed
        assert t.value == pytest.approx(sum(per_seed) / 2, rel=1e-12)
        assert read_record(t).metrics["split_ticket"] == pytest.approx(
            sum(r.metrics["split_ticket"] for r in alone) / 2
        )


def test_the_progress_line_says_a_value_is_a_mean_over_seeds(tmp_path) -> None:
    from search.report import describe_trial

    doc = study_doc("repline", study={"replicates": 3}, experiment={"steps": 1, "step_seconds": 0.0})
    (trial,) = _run(tmp_path, doc, 1).get_trials()
    assert "(mean of 3 seeds)" in describe_trial(trial)


def test_each_seeds_run_data_is_stored_as_one_list_in_seed_order() -> None:
    from core import Result
    from search.trial.replicates import stored_extra

    seeds = [Result(metrics={"loss": float(i)}, extra={"run_data": {"cut_weights": [9, i]}}) for i in range(3)]
    trial = combine(seeds, [7, 8, 9], ["loss"])
    out = stored_extra(trial)
    assert out["run_data"] == [{"cut_weights": [9, 0]}, {"cut_weights": [9, 1]}, {"cut_weights": [9, 2]}]
    assert out["replicates"]["seeds"] == [7, 8, 9] and out["replicates"]["per_seed"]["loss"] == [0.0, 1.0, 2.0]
    assert stored_extra(combine(seeds[:1], [None], ["loss"])) == {"run_data": [{"cut_weights": [9, 0]}]}
    assert stored_extra(combine([Result(metrics={"loss": 1.0})] * 2, [1, 2], ["loss"])).keys() == {"replicates"}
