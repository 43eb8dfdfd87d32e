"""An IMP study can optimise the cut: ``study.metric: cut_weights_last`` (minimize) is accepted, and
its finished trials carry the cut per level (the history's mean over seeds, each seed's run data)."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import TrialState

from search.store import read_record
from search.studyfile import parse_spec
from tests.helpers import optimize_here

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _doc(metric: str) -> dict:
    return {
        "study": {
            "name": "cut",
            "direction": "minimize",
            "metric": metric,
            "n_trials": 3,
            "replicates": 2,
            "sampler": {"name": "random", "seed": 0},
            "pruner": {"name": "none"},
        },
        "experiment": {
            "kind": "imp",
            "data": {"n_samples": 300},
            "model": {"widths": [8, 8]},
            "train": {"max_epochs": 6, "patience": 3},
            "imp": {"levels": 3, "target_params": 16},
            "analysis": {"plots": False, "trajectories": False},
            "checkpoint": False,
        },
        "search_space": {"imp.target_params": {"type": "int", "low": 10, "high": 40}},
        "resources": {"workers": 1, "population": 4},
    }


@pytest.mark.parametrize("metric", ["cut_weights_last", "cut_mass_last", "cut_level_zero"])
def test_a_study_file_may_optimise_the_cut(metric):
    spec = parse_spec(_doc(metric))
    assert spec.study.metrics == (metric,) and spec.study.directions == ("minimize",)


def test_finished_trials_carry_the_cut_per_level_and_per_seed(tmp_path):
    study = optimize_here(tmp_path, _doc("cut_weights_last"), 3, population=4)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 3
    for t in done:
        record = read_record(t)
        per_seed = record.replicates["per_seed"]
        assert len(record.run_data) == 2
        cuts = [d["cut_weights"] for d in record.run_data]
        assert [c[-1] for c in cuts] == list(per_seed["cut_weights_last"])
        assert t.value == pytest.approx(np.mean(per_seed["cut_weights_last"]))
        # the history's per-level value is the mean over the seeds' per-level cuts
        assert [h["cut_weights"] for h in record.history] == pytest.approx(list(np.mean(cuts, axis=0)))
        zero = [next((lv for lv, c in enumerate(cs) if c == 0), -1) for cs in cuts]
        assert list(per_seed["cut_level_zero"]) == zero
        assert all(len(d["neurons"]["state"]) == len(d["cut_weights"]) for d in record.run_data)
