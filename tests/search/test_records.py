"""A trial's record (``search.store.read_record``): typed, read-only, the same from every layout.

The trials here are built with ``optuna.trial.create_trial`` (no storage): the reader sees only
their user attributes. ``tests/search/test_writes.py`` reads the layouts back from SQLite."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

from search.store import TrialRecord, read_record

RUN = {
    "config": {"x": 1.0, "model": {"widths": [8, 8]}},
    "config_hash": "abc",
    "seed": 0,
    "device": "cpu",
    "worker": "host:1",
    "launch_id": "l1",
    "sampler_seed": None,
    "version": "0.1.0",
    "git_commit": "c",
}
RESULT = {
    "loss": 0.5,
    "loss_std": 0.1,
    "loss_sem": 0.05,
    "n_seeds": 2.0,
    "wall_time_s": 1.5,
    "history": [{"step": 1, "loss": 0.5}],
    "replicates": {"seeds": [0, 1], "per_seed": {"loss": [0.4, 0.6]}},
}


def _trial(attrs: dict) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=0.5, user_attrs=attrs)


def test_facts_metrics_and_the_rest_land_in_their_places() -> None:
    record = read_record(_trial({**RUN, **RESULT, "repeat_of": 3, "flag": True, "note": "kept"}))
    assert (record.launch_id, record.config_hash, record.seed, record.repeat_of) == ("l1", "abc", 0, 3)
    assert record.wall_time_s == 1.5 and record.n_seeds == 2.0 and record.fail_reason is None
    assert record.config == {"x": 1.0, "model": {"widths": (8, 8)}}
    assert record.history == ({"step": 1, "loss": 0.5},) and record.replicates["seeds"] == (0, 1)
    assert record.metrics == {"loss": 0.5, "loss_std": 0.1, "loss_sem": 0.05}
    assert record.extra == {"flag": True, "note": "kept"}, "a bool is no metric; nothing stored is dropped"


def test_a_confirmation_trial_has_its_own_fields() -> None:
    attrs = {"candidate": "baseline", "search_trial": None, "params": {"x": 2.0}, "candidate_hash": "h", "seed": 1000}
    record = read_record(_trial({**attrs, "test_acc": 0.9}))
    assert (record.candidate, record.search_trial, record.candidate_hash) == ("baseline", None, "h")
    assert record.params == {"x": 2.0} and record.metrics == {"test_acc": 0.9} and not record.extra
    assert record.flat() == {**attrs, "test_acc": 0.9}, "a fact stored as None is given back"


def test_a_record_cannot_be_changed() -> None:
    record = read_record(_trial({**RUN, **RESULT}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.launch_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.metrics["loss"] = 0.0  # type: ignore[index]
    with pytest.raises(TypeError):
        record.config["model"]["widths"] = [1]  # type: ignore[index]
    with pytest.raises(TypeError):
        record.history[0]["loss"] = 0.0  # type: ignore[index]
    built = TrialRecord(metrics={"loss": 1.0}, history=[{"step": 1}])
    assert isinstance(built.history, tuple)
    with pytest.raises(TypeError):
        built.metrics["loss"] = 0.0  # type: ignore[index]


def test_a_trial_that_stored_nothing_is_an_empty_record() -> None:
    record = read_record(_trial({}))
    assert record == TrialRecord() and record.flat() == {} and record.history == ()
    assert TrialRecord(launch_id="l", metrics={"loss": 1.0}).flat() == {"launch_id": "l", "loss": 1.0}


def test_the_three_layouts_give_equal_records() -> None:
    flat = read_record(_trial({**RUN, **RESULT, "fail_reason": "late"}))
    lean = read_record(
        _trial(
            {
                "run": RUN,
                "config_hash": "abc",
                "seed": 0,
                "result": {**RESULT, "fail_reason": "early"},
                "loss_std": 0.1,
                "fail_reason": "late",  # a launcher's later word wins over the result object
            }
        )
    )
    old = read_record(_trial({k: v for k, v in reversed({**RUN, **RESULT, "fail_reason": "late"}.items())}))
    assert flat == lean == old and flat.fail_reason == "late"
    assert flat.flat() == lean.flat() == old.flat() == {**RUN, **RESULT, "fail_reason": "late"}


def test_a_flat_attribute_named_run_that_is_no_object_is_kept() -> None:
    record = read_record(_trial({"run": "not a mapping", "loss": 1.0}))
    assert record.extra == {"run": "not a mapping"} and record.flat() == {"run": "not a mapping", "loss": 1.0}
