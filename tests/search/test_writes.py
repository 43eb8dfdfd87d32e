"""A trial writes little beside Optuna's own rows (issue 14 item 7), and studies written with the
old layout (one user attribute per value) still read the same through ``trial_record``.

Writes are counted with SQLAlchemy events on every engine: INSERT/UPDATE/DELETE statements, and
commits (Optuna also commits after reads). "Optuna's own" is a plain ``study.optimize`` with the
same storage settings, parameters and reports."""

from __future__ import annotations

import collections
import contextlib

import optuna
import pytest
import sqlalchemy

from search.claims import repeat_result
from search.records import trial_record
from search.rerun import stored_metrics
from search.spec import parse_spec
from search.storage import open_storage
from search.worker import StudyWorker
from tests.helpers import optimize_here, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
N, STEPS = 4, 5
EXTRA_WRITES = 4  # the most a trial may write beside Optuna's own rows


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


def service(tmp_path, **study) -> collections.Counter:
    """Writes of N trials run by a worker of the service, as ``python -m search.launch`` runs them."""
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
    return counts


@pytest.mark.parametrize("replicates", [1, 3])
def test_a_trial_writes_at_most_four_rows_beside_optunas_own(tmp_path, replicates) -> None:
    own = optuna_own(f"sqlite:///{tmp_path}/plain.db")
    ours = service(tmp_path, replicates=replicates)
    extra = (ours["write"] - own["write"]) / N
    print(
        f"writes per trial: Optuna's own {own['write'] / N:g}, service {ours['write'] / N:g}; commits per "
        f"trial: Optuna's own {own['commit'] / N:g}, service {ours['commit'] / N:g}"
    )
    assert extra <= EXTRA_WRITES, f"{extra:g} writes per trial beside Optuna's own: {dict(ours)}"
    assert ours["INSERT INTO trial_user_attributes"] / N <= EXTRA_WRITES
    assert (ours["commit"] - own["commit"]) / N <= EXTRA_WRITES + 1  # + the trial id, looked up once per trial


def _old_layout(trial: optuna.Trial) -> float:
    """What the objective wrote before: every value its own user attribute."""
    attrs = {
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
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    return 0.5


def test_a_study_written_with_the_old_layout_reads_as_before(tmp_path) -> None:
    study = optuna.create_study(study_name="old", storage=open_storage(f"sqlite:///{tmp_path}/o.db", create_dirs=True))
    study.optimize(_old_layout, n_trials=1)
    old = study.trials[0]
    record = trial_record(old)
    assert record == old.user_attrs
    assert stored_metrics(old) == {"loss": 0.5, "n_params": 12.0}
    values, copied = repeat_result(record, old)
    assert values == [0.5] and copied == {
        "loss": 0.5,
        "n_params": 12.0,
        "history": [{"step": 1, "loss": 0.5}],
        "repeat_of": 0,
    }


def test_the_new_layout_reads_like_the_old_one(tmp_path) -> None:
    study = optimize_here(tmp_path, study_doc("new", study={"n_trials": 1}), 1)
    trial = study.trials[0]
    assert set(trial.user_attrs) == {"run", "result", "config_hash", "seed"}
    record = trial_record(trial)
    for key in (
        "config",
        "config_hash",
        "seed",
        "device",
        "worker",
        "launch_id",
        "sampler_seed",
        "version",
        "git_commit",
        "wall_time_s",
        "history",
        "loss",
    ):
        assert key in record, key
    assert record["config_hash"] == trial.user_attrs["run"]["config_hash"]
    assert set(stored_metrics(trial)) >= {"loss"} and "wall_time_s" not in stored_metrics(trial)
