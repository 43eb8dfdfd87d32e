"""What a trial writes beside Optuna's own rows, and studies written with the earlier layouts
still read the same through ``read_record``.

Every scalar a trial stores is a flat user attribute again (the dashboard's trial
table and ``study.trials_dataframe()`` show them as columns), so a trial writes one upsert per
attribute, about a dozen, where the lean JSON layout wrote four. They go in two
transactions (the run facts when it starts, the result when it ends), so the commits beside
Optuna's own are two, fewer than the lean layout's four. Real trials last 10 s to minutes: a
dozen single-row upserts in two commits are lost in that (docs/results/performance.md measured
the service overhead at 0.41 % of a 10 s trial with four commits). What is bounded here: no more
writes than attributes (nothing rewritten), no more than two commits per trial beyond Optuna's
own, the trial id looked up once and the read-back of the public ``study.tell``.

Writes are counted with SQLAlchemy events on every engine: INSERT/UPDATE/DELETE statements, and
commits (Optuna also commits after reads). "Optuna's own" is a plain ``study.optimize`` with the
same storage settings, parameters and reports."""

from __future__ import annotations

import collections
import contextlib

import optuna
import pytest
import sqlalchemy

from search.launch import StudyWorker
from search.rerun import stored_metrics
from search.store import open_storage, read_record
from search.studyfile import parse_spec
from search.trial import repeat_result
from tests.helpers import optimize_here, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
N, STEPS = 4, 5
EXTRA_COMMITS = 2  # the transactions a trial's own attributes take: when it starts, when it ends


@contextlib.contextmanager
def counting():
    """Counts of commits and of write statements (per table) on every engine, while in the block."""
    counts: collections.Counter = collections.Counter()

    def commit(_conn) -> None:
        counts["commit"] += 1

    def execute(_conn, _cursor, statement, *_args) -> None:
        words = statement.split()
        if words and words[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            counts["write"] += 1
            counts[" ".join(words[:3])] += 1

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", commit)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", execute)
    try:
        yield counts
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", commit)
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", execute)


def optuna_own(url: str) -> collections.Counter:
    """Writes of N plain Optuna trials: two suggested parameters, STEPS reports each."""
    study = optuna.create_study(study_name="plain", storage=open_storage(url, create_dirs=True))

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
        for step in range(1, STEPS + 1):
            trial.report(x * x + y, step)
            trial.should_prune()
        return x * x + y

    with counting() as counts:
        study.optimize(objective, n_trials=N)
    return counts


def service(tmp_path, **study) -> tuple[collections.Counter, list[optuna.trial.FrozenTrial]]:
    """Writes of N trials run by a worker of the service, as ``python -m search.launch`` runs them,
    and the trials."""
    from search.launch import prepare_study

    spec = parse_spec(
        study_doc(
            "w",
            study={
                "storage": f"sqlite:///{tmp_path}/s.db",
                "n_trials": N,
                "artifacts": str(tmp_path / "artifacts"),
                **study,
            },
            experiment={"steps": STEPS, "step_seconds": 0.0},
            resources={"workers": 1},
        )
    )
    prepare_study(spec)
    with counting() as counts:
        assert StudyWorker(spec, index=0, launch_id="w", deadline=None).run()["trials"] == N
    trials = optuna.load_study(study_name="w", storage=spec.study.storage).get_trials()
    return counts, trials


@pytest.mark.parametrize("replicates", [1, 3])
def test_a_trial_writes_each_attribute_once_in_two_transactions(tmp_path, replicates) -> None:
    own = optuna_own(f"sqlite:///{tmp_path}/plain.db")
    ours, trials = service(tmp_path, replicates=replicates)
    attrs = sum(len(t.user_attrs) for t in trials) / N
    extra = (ours["write"] - own["write"]) / N
    print(
        f"writes per trial: Optuna's own {own['write'] / N:g}, service {ours['write'] / N:g} ({attrs:g} user "
        f"attributes); commits per trial: Optuna's own {own['commit'] / N:g}, service {ours['commit'] / N:g}"
    )
    assert extra <= attrs, f"{extra:g} writes per trial beside Optuna's own, {attrs:g} attributes: {dict(ours)}"
    assert ours["INSERT INTO trial_user_attributes"] / N == attrs
    # + the trial id, looked up once per trial, and the frozen copy that the public study.tell reads
    # back (a worker tells through it, as ask-and-tell code does; study.optimize calls a private one)
    assert (ours["commit"] - own["commit"]) / N <= EXTRA_COMMITS + 2


_OLD = {
    "config": {"x": 1.0, "seed": 0},
    "config_hash": "abc",
    "seed": 0,
    "device": "cpu",
    "worker": "host:1",
    "launch_id": "old",
    "sampler_seed": 1,
    "version": "0.1.0",
    "git_commit": "c",
    "loss": 0.5,
    "n_params": 12.0,
    "wall_time_s": 1.5,
    "history": [{"step": 1, "loss": 0.5}],
}


def _old_layout(trial: optuna.Trial) -> float:
    """What the objective wrote before the lean JSON layout: every value its own user attribute, own commit."""
    for key, value in _OLD.items():
        trial.set_user_attr(key, value)
    return 0.5


def test_a_study_written_with_the_old_layout_reads_as_before(tmp_path) -> None:
    study = optuna.create_study(study_name="old", storage=open_storage(f"sqlite:///{tmp_path}/o.db", create_dirs=True))
    study.optimize(_old_layout, n_trials=1)
    old = study.trials[0]
    record = read_record(old)
    assert record.flat() == old.user_attrs
    assert record.metrics == {"loss": 0.5, "n_params": 12.0} and record.launch_id == "old"
    assert stored_metrics(old) == {"loss": 0.5, "n_params": 12.0}
    values, copied = repeat_result(record.flat(), old)
    assert values == [0.5] and copied == {
        "loss": 0.5,
        "n_params": 12.0,
        "history": [{"step": 1, "loss": 0.5}],
        "repeat_of": 0,
    }


FLAT = ("config_hash", "seed", "device", "worker", "launch_id", "sampler_seed", "version", "git_commit")


def test_every_scalar_is_a_flat_attribute_and_reads_as_before(tmp_path) -> None:
    study = optimize_here(tmp_path, study_doc("new", study={"n_trials": 1}), 1)
    trial = study.trials[0]
    assert set(trial.user_attrs) == {"config", "history", *FLAT, "wall_time_s", "loss", "n_params"}
    assert isinstance(trial.user_attrs["config"], dict) and isinstance(trial.user_attrs["history"], list)
    assert trial.user_attrs["device"] == "cpu" and trial.user_attrs["n_params"] == 2.0
    assert trial.user_attrs["loss"] == trial.value and trial.user_attrs["wall_time_s"] > 0
    assert read_record(trial).flat() == trial.user_attrs
    assert set(stored_metrics(trial)) == {"loss", "n_params"}


def test_a_replicated_trial_has_its_spread_flat(tmp_path) -> None:
    study = optimize_here(tmp_path, study_doc("rep", study={"n_trials": 1, "replicates": 3}), 1)
    attrs = study.trials[0].user_attrs
    assert {"loss", "loss_std", "loss_sem", "n_seeds", "n_params", "wall_time_s", "device", "seed"} <= set(attrs)
    assert attrs["n_seeds"] == 3.0 and attrs["replicates"]["seeds"] == [attrs["seed"] + i for i in range(3)]
    assert all(isinstance(attrs[k], float) for k in ("loss", "loss_std", "loss_sem"))


def _lean_layout(trial: optuna.Trial) -> float:
    """What the objective wrote in the lean JSON layout: two JSON objects, a few flat copies."""
    run = {k: v for k, v in _OLD.items() if k in (*FLAT, "config")}
    trial.set_user_attr("run", run)
    trial.set_user_attr("config_hash", run["config_hash"])
    trial.set_user_attr("seed", run["seed"])
    trial.set_user_attr("result", {k: v for k, v in _OLD.items() if k not in run})
    return 0.5


def test_a_study_written_with_the_lean_layout_reads_as_before(tmp_path) -> None:
    study = optuna.create_study(study_name="lean", storage=open_storage(f"sqlite:///{tmp_path}/l.db", create_dirs=True))
    study.optimize(_lean_layout, n_trials=1)
    lean = study.trials[0]
    assert read_record(lean).flat() == _OLD
    assert stored_metrics(lean) == {"loss": 0.5, "n_params": 12.0}
    assert repeat_result(read_record(lean).flat(), lean)[1]["history"] == [{"step": 1, "loss": 0.5}]
