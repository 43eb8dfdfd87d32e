"""search.confirm: the best configurations and the baseline re-run on fresh seeds, judged on test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from search.confirm import LEFTOVER, compare, fresh_seeds, main, summarise
from search.store import read_record
from tests.helpers import ROOT, optimize_here, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

BASELINE = {"x": -2.5, "y": 2.5}  # far from the bowl's minimum: never among the best


def _study(tmp_path, n: int = 6, step_seconds: float = 0.0, **study) -> tuple[dict, str]:
    doc = study_doc(
        "cf",
        study={
            "storage": f"sqlite:///{tmp_path}/study.db",
            "artifacts": str(tmp_path / "art"),
            "enqueue": [BASELINE],
            "replicates": 2,
            **study,
        },
        experiment={"steps": 2, "step_seconds": step_seconds, "noise": 0.3, "seed": 0},
        confirm={"metric": "loss", "seeds": 3},
    )
    optimize_here(tmp_path, doc, n)
    path = tmp_path / "cf.yaml"
    path.write_text(yaml.safe_dump(doc))
    return doc, str(path)


def _confirm_trials(tmp_path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="cf-confirm", storage=f"sqlite:///{tmp_path}/study.db").get_trials()


def test_confirms_the_best_and_the_baseline_on_fresh_seeds(tmp_path, capsys) -> None:
    _study(tmp_path)
    assert main([str(tmp_path / "cf.yaml"), "--top", "2"]) == 0
    trials = _confirm_trials(tmp_path)
    search = optuna.load_study(study_name="cf", storage=f"sqlite:///{tmp_path}/study.db").get_trials()
    used = {s for t in search for s in read_record(t).replicates["seeds"]}
    assert used == {0, 1}
    seeds = {read_record(t).seed for t in trials}
    assert seeds == {1000, 1001, 1002} and not seeds & used
    assert sorted({read_record(t).candidate for t in trials}) == ["baseline", "best 1", "best 2"]
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(trials) == 9
    base = [t for t in trials if read_record(t).candidate == "baseline"]
    assert {tuple(sorted(read_record(t).params.items())) for t in base} == {tuple(sorted(BASELINE.items()))}
    table = optuna.load_study(study_name="cf-confirm", storage=f"sqlite:///{tmp_path}/study.db").user_attrs[
        "confirmation"
    ]
    best = next(r for r in table["rows"] if r["label"] == "best 1")
    assert best["values"] == [
        t.value for t in sorted(trials, key=lambda t: read_record(t).seed) if read_record(t).candidate == "best 1"
    ]
    assert best["diff"] < 0 and best["p_value"] < 0.05  # far better than the far-away baseline
    assert "| best 1 |" in capsys.readouterr().out


@pytest.mark.slow
def test_a_killed_confirmation_resumes_without_repeating_finished_runs(tmp_path) -> None:
    doc, path = _study(tmp_path, n=3)
    doc["experiment"]["step_seconds"] = 0.4  # slow enough to kill midway
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    proc = subprocess.Popen(
        [sys.executable, "-m", "search.confirm", path, "--top", "1"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            done = [t for t in _confirm_trials(tmp_path) if t.state == TrialState.COMPLETE]
        except KeyError:
            done = []
        if len(done) >= 2:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {
        t.number: (read_record(t).candidate, read_record(t).seed)
        for t in _confirm_trials(tmp_path)
        if t.state == TrialState.COMPLETE
    }
    assert 2 <= len(first) < 6
    assert main([path, "--top", "1"]) == 0
    trials = _confirm_trials(tmp_path)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pairs = [(read_record(t).candidate, read_record(t).seed) for t in complete]
    assert sorted(pairs) == sorted((c, s) for c in ("baseline", "best 1") for s in (1000, 1001, 1002))
    assert {t.number: p for t, p in zip(complete, pairs) if t.number in first} == first  # kept, not rerun
    assert all(t.state != TrialState.RUNNING for t in trials)
    assert all(read_record(t).fail_reason == LEFTOVER for t in trials if t.state == TrialState.FAIL)


def test_the_baseline_is_confirmed_when_it_never_ran_in_the_search(tmp_path) -> None:
    doc = study_doc(
        "cf",
        study={"storage": f"sqlite:///{tmp_path}/study.db", "artifacts": str(tmp_path / "art"), "n_trials": 2},
        experiment={"steps": 1, "step_seconds": 0.0},
        confirm={"metric": "loss"},
    )
    optimize_here(tmp_path, doc, 2)  # no enqueue while searching
    doc["study"]["enqueue"] = [BASELINE]
    (tmp_path / "cf.yaml").write_text(yaml.safe_dump(doc))
    assert main([str(tmp_path / "cf.yaml"), "--top", "1", "--seeds", "2"]) == 0
    base = [t for t in _confirm_trials(tmp_path) if read_record(t).candidate == "baseline"]
    assert len(base) == 2 and all(read_record(t).search_trial is None for t in base)


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--top", "0"], "--top: expected an integer >= 1, got 0"),
        (["--seeds", "0"], "--seeds: expected an integer >= 2"),
        (["--seeds", "1"], "--seeds: expected an integer >= 2"),
    ],
)
def test_bad_options_are_one_line_and_create_nothing(tmp_path, capsys, args, expect) -> None:
    _study(tmp_path, n=2)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main([str(tmp_path / "cf.yaml"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expect in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path}/study.db") == ["cf"]


@pytest.mark.slow
def test_unknown_study_and_no_finished_trial_are_one_line_and_create_nothing(tmp_path) -> None:
    doc = study_doc(
        "cf",
        study={"storage": f"sqlite:///{tmp_path}/study.db", "artifacts": str(tmp_path / "art"), "n_trials": 1},
        experiment={"steps": 1, "fail": "raise"},
        confirm={"metric": "loss"},
    )
    path = tmp_path / "cf.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run(
        [sys.executable, "-m", "search.confirm", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no study database" in out.stderr
    optimize_here(tmp_path, doc, 1)  # one FAIL trial, nothing finished
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = subprocess.run(
        [sys.executable, "-m", "search.confirm", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "study.name: study 'cf' has no finished trial to confirm" in out.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path}/study.db") == ["cf"]


def test_a_study_without_a_test_metric_says_what_to_name() -> None:
    from search.studyfile import SpecError, parse_spec

    with pytest.raises(SpecError) as info:
        parse_spec(study_doc("x", confirm={"seeds": 3}))  # metric loss: no val_ prefix, no confirm.metric
    assert info.value.path == "confirm.metric"


def test_statistics_on_known_values() -> None:
    s = summarise([1.0, 2.0, 3.0, 4.0])  # t(0.975, 3) = 3.182446305, sem = 0.6454972244
    assert s["mean"] == 2.5 and s["ci95"] == pytest.approx([2.5 - 2.0542603, 2.5 + 2.0542603], abs=1e-6)
    rate = summarise([1.0, 1.0, 1.0, 0.0, 0.0], "split_ticket")  # Wilson 95 % for 3/5
    assert rate["interval"] == "Wilson" and rate["ci95"] == pytest.approx([0.2307, 0.8824], abs=1e-4)
    assert compare([1.0] * 5, [0.0] * 5, "split_ticket") == pytest.approx(
        {"diff": 1.0, "p_value": 2 / 252, "test": "Fisher exact"}
    )
    acc = summarise([1.0, 1.0, 0.0], "test_split_min_task_acc")  # an accuracy, not a rate; t leaves [0, 1]
    assert acc["interval"] == "Student t, clipped to [0, 1]" and acc["ci95"] == [0.0, 1.0]
    assert compare([1.0, 1.0, 0.0], [0.0, 1.0, 0.0], "test_acc")["test"] == "Welch t"
    # by hand: t = -3 / sqrt(1/3 + 20/3/4) = -2.1213, Welch df = 4 / (1/18 + 25/27) = 4.0755, p = 0.0999
    welch = compare([1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0])
    assert welch["test"] == "Welch t" and welch["p_value"] == pytest.approx(0.0999, abs=2e-4)


def test_rates_and_accuracies_print_as_percentages() -> None:
    from search.confirm.stats import _pct

    assert _pct(0.8, "test_split_ticket") == _pct(0.8, "split_ticket") == _pct(0.8, "test_acc") == "80.00 %"
    assert _pct(0.8, "loss") == "0.8"


def test_fresh_seeds_start_above_every_used_seed() -> None:
    assert fresh_seeds({0, 1, 2}, 3) == [1000, 1001, 1002]
    assert fresh_seeds({0, 1500}, 2) == [2000, 2001]
    assert fresh_seeds(set(), 2) == [1000, 1001]
    assert fresh_seeds({5}, 2, start=1000) == [1000, 1001]


def test_confirm_also_runs_labelled_variants_of_the_baseline(tmp_path) -> None:
    doc, path = _study(tmp_path, n=2)
    doc["confirm"]["also"] = {"at the minimum": {"x": 2.0, "y": -1.0}}
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    assert main([path, "--top", "1", "--seeds", "2"]) == 0
    trials = [t for t in _confirm_trials(tmp_path) if read_record(t).candidate == "at the minimum"]
    assert len(trials) == 2 and all(read_record(t).params == {"x": 2.0, "y": -1.0} for t in trials)
    assert all(read_record(t).search_trial is None for t in trials)
    table = optuna.load_study(study_name="cf-confirm", storage=f"sqlite:///{tmp_path}/study.db").user_attrs[
        "confirmation"
    ]
    assert [r["label"] for r in table["rows"]] == ["baseline", "best 1", "at the minimum"]


def test_equal_search_values_are_ordered_by_confirm_tie_break(tmp_path) -> None:
    """A 0/1 rate over few seeds ties at the top: ``confirm.tie_break`` orders the tied trials by a
    stored metric (in the study's direction, or its own), a trial without it last; else by number."""
    import copy

    from search.confirm.command import candidates
    from search.studyfile import SpecError, parse_spec

    doc, _ = _study(tmp_path, n=5)
    search = optuna.load_study(study_name="cf", storage=f"sqlite:///{tmp_path}/study.db").get_trials()
    tied = []
    for i, t in enumerate(search):  # trial 0 is the enqueued baseline: never a "best"
        t = copy.deepcopy(t)
        t.value = 1.0
        if i != 2:
            t.user_attrs["val_tb"] = -float(i)
        tied.append(t)

    def best(**confirm) -> list[int]:
        spec = parse_spec({**doc, "confirm": {**doc["confirm"], **confirm}})
        return [c.search_trial for c in candidates(spec, tied, 3) if c.label.startswith("best")]

    assert best() == [1, 2, 3]  # by trial number
    assert best(tie_break="val_tb") == [4, 3, 1]  # loss is minimized: -4 first; trial 2 lacks it
    assert best(tie_break="val_tb", tie_break_direction="maximize") == [1, 3, 4]
    with pytest.raises(SpecError) as info:
        parse_spec({**doc, "confirm": {**doc["confirm"], "tie_break_direction": "maximize"}})
    assert info.value.path == "confirm.tie_break"


def test_confirm_also_with_an_unknown_field_names_it() -> None:
    from search.studyfile import SpecError, parse_spec

    with pytest.raises(SpecError) as info:
        parse_spec(study_doc("x", confirm={"metric": "loss", "also": {"v": {"nope": 1}}}))
    assert info.value.path.startswith("confirm.also.v.nope")


def test_a_categorical_list_choice_is_confirmed_with_its_decoded_value(tmp_path) -> None:
    """Optuna stores a list choice such as model.widths [12] encoded ('[12]'): confirmation runs the
    trial's stored config, not one rebuilt from its encoded parameters."""
    from tests.search.test_never_reads_test import imp_doc

    doc = imp_doc()
    doc["study"].update(
        storage=f"sqlite:///{tmp_path}/study.db",
        artifacts=str(tmp_path / "art"),
        n_trials=2,
        replicates=1,
        enqueue=[{"model.widths": [8, 8]}, {"model.widths": [12]}],
    )
    doc["search_space"] = {"model.widths": {"type": "categorical", "choices": [[8, 8], [12]]}}
    doc["confirm"] = {"top": 2, "seeds": 2}
    optimize_here(tmp_path, doc, 2)
    (tmp_path / "imp.yaml").write_text(yaml.safe_dump(doc))
    assert main([str(tmp_path / "imp.yaml")]) == 0
    trials = optuna.load_study(study_name="blind-imp-confirm", storage=f"sqlite:///{tmp_path}/study.db").get_trials()
    widths = {tuple(read_record(t).config["model"]["widths"]) for t in trials}
    assert widths == {(8, 8), (12,)} and all(t.state == TrialState.COMPLETE for t in trials)
