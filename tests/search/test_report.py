"""The morning report: contents match the storage, plots are real PNGs, study artifacts uploaded,
bad input is one line with exit 2 and creates nothing. Studies are made in-process (no Ray)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import optuna
import pytest
from matplotlib.image import imread
from optuna.artifacts import get_all_artifact_meta

from search.launch import prepare_study
from search.report import main, write_report
from search.store import artifact_store
from search.studyfile import StudySpec, load_spec, make_pruner
from search.trial import Objective, run_trials
from tests.helpers import run_cli, study_doc

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Enqueued so that every state is certain: best (x=2, y=-1: loss 1/3), a good one, a raise, a NaN,
# one pruned by the threshold pruner at its first step (loss > 5).
KNOWN = [
    {"x": 2.0, "y": -1.0, "fail": "none"},
    {"x": 1.0, "y": 0.0, "fail": "none"},
    {"x": 0.0, "y": 0.0, "fail": "raise"},
    {"x": 0.0, "y": 0.0, "fail": "nan"},
    {"x": -3.0, "y": 2.0, "fail": "none"},
]


def make_study(write_study, doc: dict, n_trials: int) -> tuple[Path, StudySpec, optuna.Study]:
    """Write ``doc``, create its study and run ``n_trials`` trials in this process."""
    path = write_study(doc)
    spec = load_spec(path)
    prepare_study(spec)
    study = optuna.load_study(
        study_name=spec.study.name, storage=spec.study.storage, pruner=make_pruner(spec.study.pruner)
    )
    objective = Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id="test",
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )
    run_trials(study, objective, n_trials, heartbeat_s=1.0, batched=False)  # the worker's own engine
    return path, spec, study


def mixed_doc(name: str = "rep", **study) -> dict:
    return study_doc(
        name,
        study={"enqueue": KNOWN, "pruner": {"name": "threshold", "upper": 5.0}, **study},
        experiment={"steps": 3, "step_seconds": 0.0},
        search_space={"fail": {"type": "categorical", "choices": ["none", "raise", "nan"]}},
    )


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000, path
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200, path


def _artifact_names(study: optuna.Study) -> Counter:
    return Counter(m.filename for m in get_all_artifact_meta(study))


@pytest.mark.slow
def test_report_cli_single_objective(write_study, tmp_path: Path) -> None:
    path, spec, study = make_study(write_study, mixed_doc(), n_trials=7)
    out = tmp_path / "report"
    done = run_cli("search.report", str(path), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "report.md") and "Traceback" not in done.stderr

    text = (out / "report.md").read_text()
    counts = Counter(t.state.name for t in study.get_trials())
    assert counts["FAIL"] >= 2 and counts["PRUNED"] >= 1 and counts["COMPLETE"] >= 2
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        assert f"| {state} | {counts[state]} |" in text
    assert f"| total | {len(study.trials)} |" in text
    assert "| 1 | 0 | 0.3333 | 2 | -1 | none |" in text, "best trial row: rank, number, loss, params"
    assert "### Best trial 0" in text and "--trial 0" in text
    assert "RuntimeError: synthetic failure at step 1" in text and "loss is nan at step 1" in text
    assert "pruned at step 1" in text
    assert "## Parameter importances" in text and "| x |" in text
    assert "Pareto" not in text

    pngs = {"optimization_history.png", "parallel_coordinates.png", "param_importances.png", "intermediate_values.png"}
    assert {p.name for p in out.glob("*.png")} == pngs
    for name in pngs:
        assert f"]({name})" in text
        check_png(out / name)
    assert _artifact_names(study) == Counter(pngs | {"report.md"})

    write_report(study, spec, out)  # a second report replaces the artifacts, it does not add copies
    assert _artifact_names(study) == Counter(pngs | {"report.md"})


def test_report_multi_objective_pareto(write_study, tmp_path: Path) -> None:
    doc = mixed_doc("pareto", directions=["minimize", "minimize"], metrics=["loss", "n_params"])
    del doc["study"]["direction"], doc["study"]["metric"]
    _, spec, study = make_study(write_study, doc, n_trials=6)
    report = write_report(study, spec, tmp_path / "out")
    text = report.read_text()
    front = study.best_trials
    assert f"## Pareto front ({len(front)} of " in text
    assert "`loss` (minimize), `n_params` (minimize)" in text
    assert "| 1 | 0 | 0.3333 | 2 |" in text, "the best-loss trial heads the front"
    assert "`n_params` is the same in every completed trial" in text  # synthetic: always 2
    check_png(tmp_path / "out" / "pareto_front.png")
    assert "pareto_front.png" in _artifact_names(study)


def test_report_without_completed_trials(write_study, tmp_path: Path) -> None:
    doc = study_doc("nodone", experiment={"fail": "raise"})
    _, spec, study = make_study(write_study, doc, n_trials=0)
    text = write_report(study, spec, tmp_path / "empty").read_text()
    assert "| total | 0 |" in text and "No completed trial yet" in text
    assert "need at least 2 completed trials; this study has 0" in text

    objective = Objective(
        spec,
        device="cpu",
        threads=1,
        launch_id="t",
        artifacts=artifact_store(spec.study.artifacts),
        stop=threading.Event(),
    )
    run_trials(study, objective, 2, heartbeat_s=1.0, batched=False)
    text = write_report(study, spec, tmp_path / "failed").read_text()
    assert "| FAIL | 2 |" in text and "## Failed trials (2)" in text
    assert text.count("RuntimeError: synthetic failure at step 1") == 2
    assert "Not drawn: optimisation history" in text and "learning curves" in text
    assert not list((tmp_path / "failed").glob("*.png"))
    assert _artifact_names(study) == Counter({"report.md": 1})


def _bad(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_one_line_exit_2_nothing_created(write_study, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    missing = str(tmp_path / "nope.yaml")
    assert "nope.yaml: cannot read" in _bad(capsys, [missing])
    bad = write_study(study_doc("bad", study={"n_trials": -3}), "bad.yaml")
    assert "study.n_trials: expected an integer >= 1" in _bad(capsys, [str(bad)])
    path = write_study(study_doc("absent"), "absent.yaml")
    assert "study.storage: no study database" in _bad(capsys, [str(path)])
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "artifacts").exists()
    assert not (tmp_path / "runs").exists()

    make_study(write_study, study_doc("other"), n_trials=0)  # the database exists, the study does not
    assert "study.name: no study 'absent'" in _bad(capsys, [str(path)])
    (tmp_path / "file").write_text("")
    assert "--out: " in _bad(capsys, [str(tmp_path / "study.yaml"), "--out", "file"])
    assert not (tmp_path / "runs").exists() and (tmp_path / "file").read_text() == ""
    assert optuna.get_all_study_names(f"sqlite:///{tmp_path}/study.db") == ["other"]


def test_full_artifact_store_still_writes_the_report(write_study, tmp_path: Path, capsys, monkeypatch) -> None:
    _, spec, study = make_study(write_study, mixed_doc("full"), 3)
    import search.report.command as report_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module, "artifact_store", disk_full)
    path = report_module.write_report(study, spec, tmp_path / "out")
    assert path.is_file() and "## Trials by state" in path.read_text()
    assert capsys.readouterr().err.strip().endswith("No space left on device")
