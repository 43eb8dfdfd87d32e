"""Several launchers on one study (Optuna's way to add machines): no configuration trained twice,
no collision in work directories, the budget met, nothing left RUNNING, a killed launcher's
trials retried by the others. Real launcher processes, each with its own local Ray."""

from __future__ import annotations

import signal
import threading
import time

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from core import get_experiment
from search.launch import prepare_study
from search.store import artifact_store, open_storage, read_record
from search.studyfile import parse_spec
from search.trial import Objective, claim, run_trials
from tests.helpers import study_doc
from tests.search.faults import by_state, launch_together, one_study_problems

pytestmark = [pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]
BASELINE = {"x": 2.0, "y": -1.0}
N_TRIALS = 10


def _doc(name: str, storage: str, **experiment) -> dict:
    """Every launcher reads this same file: same sampler seed, same enqueued baseline."""
    return study_doc(
        name,
        study={"storage": storage, "n_trials": N_TRIALS, "enqueue": [BASELINE]},
        experiment={"steps": 5, "step_seconds": 0.6, **experiment},
        resources={"workers": 2, "heartbeat_interval": 1, "max_retries": 2},
    )


@pytest.mark.slow
@pytest.mark.parametrize("launchers", [2, 3])
def test_concurrent_launchers_train_each_configuration_once(write_study, storage_url, study_name, launchers) -> None:
    codes, runs, _ = launch_together(write_study(_doc(study_name, storage_url)), launchers)
    output = "\n---\n".join(launch.output() for launch in runs)
    assert codes == [0] * launchers, output
    trials = runs[0].trials()
    assert one_study_problems(trials, N_TRIALS, 2 * launchers, BASELINE) == [], output
    assert not by_state(trials, TrialState.FAIL), output
    # 3-second trials: one launcher alone needs 15 s for the budget, time for the others' Ray to start
    assert len({read_record(t).launch_id for t in trials}) >= 2, "more than one launcher ran trials"


@pytest.mark.slow
def test_killed_launcher_trials_are_retried_by_the_others(write_study, storage_url, study_name) -> None:
    codes, runs, killed = launch_together(write_study(_doc(study_name, storage_url, steps=8)), 2, kill_one=True)
    assert codes[0] == 0 and codes[1] == -signal.SIGKILL, runs[0].output()
    trials = runs[0].trials()
    assert one_study_problems(trials, N_TRIALS, 4, BASELINE) == [], runs[0].output()
    failed = by_state(trials, TrialState.FAIL)
    assert {t.number for t in killed} <= {t.number for t in failed}
    for victim in failed:  # only the killed launcher's trials failed, and each was retried
        # (a trial asked just before the kill has no attributes yet: an orphan, failed all the same)
        assert read_record(victim).launch_id in (None, runs[1].launch_id())
        retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == victim.number]
        # the retry keeps every parameter the victim had drawn; one killed before its first draw has
        # none, and its retry samples them afresh (seen in CI: an orphan with params {})
        assert retries and retries[0].state == TrialState.COMPLETE
        assert victim.params.items() <= retries[0].params.items()


def test_same_configuration_at_once_trains_once_and_the_other_repeats_it(tmp_path) -> None:
    """Two workers pop one configuration at the same time (the baseline enqueued by two launchers):
    one trains in its work directory, the other waits for its claim and records its result."""
    doc = study_doc(
        "twins",
        study={"storage": f"sqlite:///{tmp_path}/study.db", "artifacts": str(tmp_path / "a"), "n_trials": 2},
        experiment={"steps": 3, "step_seconds": 0.3},
        resources={"workers": 2},
    )
    spec = parse_spec(doc)
    study = prepare_study(spec)
    study.enqueue_trial(BASELINE)
    study.enqueue_trial(BASELINE)  # skip_if_exists races between launchers: both copies get in
    trained, run = [], get_experiment("synthetic").run

    def counting_run(config, reporter, context):
        trained.append(context.workdir)
        assert {p.name for p in context.workdir.parent.iterdir()} == {
            context.workdir.name,
            f"{context.workdir.name}.lock",
        }
        return run(config, reporter, context)

    def worker(launch_id: str) -> None:  # its own storage connection and objective, as a process has
        objective = _objective(spec, launch_id)
        objective.experiment = type("Counting", (), {"run": staticmethod(counting_run)})()
        study = optuna.load_study(study_name="twins", storage=open_storage(spec.study.storage))
        run_trials(study, objective, 1, heartbeat_s=1.0, batched=False)

    workers = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    study = optuna.load_study(study_name="twins", storage=spec.study.storage)
    first, second = sorted(study.get_trials(), key=lambda t: read_record(t).repeat_of is not None)
    assert len(trained) == 1, "the configuration trained twice"
    assert first.state == second.state == TrialState.COMPLETE
    assert read_record(second).repeat_of == first.number and second.value == first.value
    assert read_record(second).metrics["loss"] == read_record(first).metrics["loss"] and read_record(second).history
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir()), "work dir and lock removed"

    study.enqueue_trial(BASELINE)
    run_trials(study, _objective(spec, "t2"), 1, heartbeat_s=1.0, batched=False)
    assert read_record(study.get_trials()[-1]).repeat_of == first.number, "a finished configuration is a repeat"


def _objective(spec, launch_id: str) -> Objective:
    return Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id=launch_id,
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )


def test_claim_waits_for_the_holder_and_survives_the_lock_file_being_removed(tmp_path) -> None:
    lock = tmp_path / "work" / "abc.lock"
    order, waited = [], []
    with claim(lock, lambda: None):

        def second():
            with claim(lock, lambda: waited.append(1)):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(1.2)
        order.append("first")
        lock.unlink()  # the holder removes the lock with its work directory, as a finished trial does
    t.join(timeout=10)
    assert order == ["first", "second"] and waited, "the second claim waited for the first"


def test_claim_wait_may_stop_the_waiter(tmp_path) -> None:
    lock = tmp_path / "abc.lock"

    def stop():
        raise KeyboardInterrupt

    with claim(lock, lambda: None):
        result = []
        t = threading.Thread(target=lambda: result.append(_try(lambda: claim(lock, stop).__enter__())))
        t.start()
        t.join(timeout=10)
    assert result == ["stopped"]


def _try(fn) -> str:
    try:
        fn()
    except KeyboardInterrupt:
        return "stopped"
    return "entered"


def test_worker_seeds_follow_sampler_seed_in_the_creating_launch_only() -> None:
    from search.launch import sampler_seed

    assert [sampler_seed(7, i, fresh=False) for i in range(3)] == [7, 8, 9]
    fresh = {sampler_seed(7, 0, fresh=True) for _ in range(5)}
    assert len(fresh) == 5, "a resumed or second launch draws fresh seeds"
    assert isinstance(sampler_seed(None, 0, fresh=False), int), "no seed: one is drawn and recorded"


@pytest.mark.slow
def test_created_flag_resume_draws_fresh_seeds(write_study, tmp_path) -> None:
    """A resumed launch of a seeded random search does not replay the first launch's proposals."""
    from tests.helpers import run_cli

    doc = study_doc("resume-seeds", study={"n_trials": 3}, resources={"workers": 1}, experiment={"steps": 1})
    doc["study"]["sampler"] = {"name": "random", "seed": 3}
    path = write_study(doc)
    assert run_cli("search.launch", str(path), cwd=tmp_path).returncode == 0
    doc["study"]["n_trials"] = 6
    more = run_cli("search.launch", str(write_study(doc)), cwd=tmp_path)
    assert more.returncode == 0, more.stdout + more.stderr
    trials = optuna.load_study(study_name="resume-seeds", storage=f"sqlite:///{tmp_path}/study.db").get_trials()
    assert [read_record(t).sampler_seed for t in trials[:3]] == [3, 3, 3]
    assert read_record(trials[3]).sampler_seed != 3
    assert len({(t.params["x"], t.params["y"]) for t in trials}) == 6, "the resume replayed proposals"
    assert not any(read_record(t).repeat_of is not None for t in trials)


def _open(url: str) -> str:
    from search.store import open_storage as open_

    open_(url, create_dirs=True)
    return "ok"


@pytest.mark.slow
def test_launchers_opening_a_new_database_at_once_all_succeed(tmp_path) -> None:
    """Optuna creates its schema with check-then-insert steps; the losers of that race try again."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i in range(3):
            url = f"sqlite:///{tmp_path}/new{i}.db"
            assert list(pool.map(_open, [url] * 4)) == ["ok"] * 4
