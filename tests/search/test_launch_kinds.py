"""The real experiment kinds through the whole service: a launch runs an ``imp`` and a short
``dendritic`` trial on Ray, the trial carries the experiment's own pictures as artifacts, and
``search.rerun`` reproduces its stored metrics exactly on CPU."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from search.rerun import main as rerun_main
from search.store import artifact_store, read_record
from tests.helpers import run_cli, study_doc
from tests.search.test_report import check_png
from tests.search.test_rerun import rerun_rows

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]
TIMES = {"train_time_s"}  # measured, not computed: the only metrics a rerun cannot repeat

IMP = {
    "kind": "imp",
    "data": {"task": "moons", "k": 2, "n_samples": 200},
    "model": {"widths": [8, 8]},
    "train": {"max_epochs": 3, "patience": 1},
    "imp": {"levels": 2, "target_params": 40},
    "analysis": {"plots": True, "trajectories": True},
}
DENDRITIC = {
    "kind": "dendritic",
    "model": {"n_somata": 32},
    "train": {"epochs": 2, "train_subset": 1000, "test_subset": 500, "batch_size": 100},
    "plasticity": {"every_steps": 4},
    "plot_dendrites": 4,
}


def _launch_one_trial(write_study, tmp_path: Path, name: str, experiment: dict, metric: str):
    doc = study_doc(name, study={"n_trials": 1, "metric": metric, "direction": "maximize"}, resources={"workers": 1})
    doc["experiment"] = experiment
    doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    path = write_study(doc)
    done = run_cli("search.launch", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    study_section = yaml.safe_load(path.read_text())["study"]
    study = optuna.load_study(study_name=name, storage=study_section["storage"])
    (trial,) = study.get_trials()
    assert trial.state == TrialState.COMPLETE, read_record(trial).fail_reason
    assert read_record(trial).artifact_error is None
    return path, study, trial, artifact_store(study_section["artifacts"])


def _check_pictures(study, trial, store, tmp_path: Path, expected: set[str]) -> None:
    metas = get_all_artifact_meta(trial, storage=study._storage)
    assert {m.filename for m in metas} >= {f"{name}.png" for name in expected}, [m.filename for m in metas]
    for meta in (m for m in metas if m.filename.endswith(".png")):
        assert meta.mimetype == "image/png", meta
        copy = tmp_path / "downloaded" / meta.filename
        copy.parent.mkdir(exist_ok=True)
        with store.open_reader(meta.artifact_id) as reader:
            copy.write_bytes(reader.read())
        check_png(copy)


def _check_rerun(path: Path, trial, metric: str, capsys) -> None:
    assert rerun_main([str(path), "--trial", str(trial.number), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "matches the stored one" in out, out
    rows = rerun_rows(out)
    assert len(rows) > 5 and list(rows)[0] == metric, out
    assert all("-" not in row[:2] for row in rows.values()), f"a metric only on one side:\n{out}"
    differ = {name: row for name, row in rows.items() if row[2] != "0" and name not in TIMES}
    assert not differ, f"the rerun changed these metrics (stored, rerun, diff): {differ}\n{out}"
    assert "history: identical over all" in out, out


def test_an_imp_trial_through_the_service_has_its_pictures_and_reruns_exactly(
    write_study, tmp_path: Path, capsys
) -> None:
    metric = "val_split_min_task_acc"
    path, study, trial, store = _launch_one_trial(write_study, tmp_path, "kind-imp", IMP, metric)
    _check_pictures(
        study,
        trial,
        store,
        tmp_path,
        {"imp_accuracy_params", "imp_zombies_comatose", "imp_graph_last", "imp_trajectories"},
    )
    _check_rerun(path, trial, metric, capsys)


def test_a_dendritic_trial_through_the_service_has_its_pictures_and_reruns_exactly(
    write_study, tmp_path: Path, capsys, mnist_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))  # the launch's Ray workers and the rerun read it
    path, study, trial, store = _launch_one_trial(
        write_study, tmp_path, "kind-dendritic", DENDRITIC, metric := "test_acc"
    )
    assert read_record(trial).metrics["epochs"] == 2 and trial.value == read_record(trial).metrics["test_acc"]
    assert [h["step"] for h in read_record(trial).history] == [1, 2]
    _check_pictures(
        study,
        trial,
        store,
        tmp_path,
        {"curves", "dendrite_weights", "weight_histogram", "entropy", "turnover", "lifetimes"},
    )
    _check_rerun(path, trial, metric, capsys)
