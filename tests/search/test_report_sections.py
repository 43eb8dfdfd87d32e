"""The morning report answers the user's questions: "Confirmed on test", the
dendritic and IMP sections, their figures as study artifacts, and the summary as the study's
optuna-dashboard note. Small real studies run in-process, confirmed with the real command."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.artifacts import get_all_artifact_meta
from optuna_dashboard import get_note
from scipy import stats

import search.confirm
from search.report import first_split, split_by_level, write_report
from search.store import read_record
from search.studyfile import load_spec
from tests.helpers import MNIST_DIR, optimize_here, require_mnist

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _imp_doc() -> dict:
    # 16x16 hidden on two moons (P = 384, P/k = 192), 20 parameters after 5 levels: some seeds split, some not.
    return {
        "study": {
            "name": "ri",
            "direction": "maximize",
            "metric": "val_split_min_task_acc",
            "n_trials": 6,
            "replicates": 2,
            "sampler": {"name": "random", "seed": 2},
            "pruner": {"name": "none"},
            "enqueue": [{"train.lr": 0.01, "imp.target_params": 24}],
        },
        "experiment": {
            "kind": "imp",
            "data": {"n_samples": 400},
            "model": {"widths": [16, 16]},
            "train": {"max_epochs": 30, "patience": 5},
            "imp": {"levels": 5, "target_params": 20, "stop_at_split": True},
            "analysis": {"plots": False, "trajectories": False},
            "checkpoint": False,
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 3.0e-3, "high": 5.0e-2, "log": True},
            "imp.target_params": {"type": "int", "low": 10, "high": 40},
        },
        "confirm": {"seeds": 3, "top": 1},
        "resources": {"workers": 1, "population": 4},
    }


def _dendritic_doc() -> dict:
    return {
        "study": {
            "name": "rd",
            "direction": "maximize",
            "metric": "val_acc",
            "n_trials": 6,
            "replicates": 2,
            "sampler": {"name": "random", "seed": 5},
            "pruner": {"name": "none"},
            "enqueue": [
                {"plasticity.p": 10.0, "plasticity.schedule": "root", "plasticity.every_steps": 20, "train.lr": 0.003}
            ],
        },
        "experiment": {
            "kind": "dendritic",
            "plots": False,
            "data": {"val_size": 500},
            "model": {"n_somata": 16, "synapses_per_dendrite": 8},
            "plasticity": {"enabled": True},
            "train": {"epochs": 2, "batch_size": 64, "train_subset": 1000, "test_subset": 500},
        },
        "search_space": {
            "train.lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
            "plasticity.p": {"type": "float", "low": 1.0, "high": 50.0, "log": True},
            "plasticity.schedule": {"type": "categorical", "choices": ["root", "constant"]},
            "plasticity.every_steps": {"type": "int", "low": 5, "high": 50, "log": True},
        },
        "confirm": {"overrides": {"data.val_size": 0}, "top": 1, "seeds": 2},
        "resources": {"workers": 1, "population": 4},
    }


def _search(tmp_path: Path, doc: dict) -> tuple[Path, optuna.Study]:
    study = optimize_here(tmp_path, doc, doc["study"]["n_trials"], population=4)
    path = tmp_path / f"{doc['study']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, study


def _confirm_trials(study: optuna.Study) -> dict[str, list[optuna.trial.FrozenTrial]]:
    confirm = optuna.load_study(study_name=f"{study.study_name}-confirm", storage=study._storage)
    by = defaultdict(list)
    for t in confirm.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        by[read_record(t).candidate].append(t)
    return by


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000, path


def _uploaded(study: optuna.Study) -> set[str]:
    return {m.filename for m in get_all_artifact_meta(study)}


def test_split_by_level_counts_seeds_split_at_or_before_each_level() -> None:
    runs = [(None, 5), (2.0, 2), (5.0, 5)]  # never split in 5 levels; split at 2 (stopped); split at 5
    assert split_by_level(runs, 5) == [0.0, 0.0, 1 / 3, 1 / 3, 1 / 3, 2 / 3]
    trial = optuna.trial.create_trial(
        value=0.0,
        user_attrs={
            "history": [
                {"step": 0, "split": 0.0},
                {"step": 1, "split": 0.0},
                {"step": 2, "split": 1.0},
                {"step": 3, "split": 1.0},
            ]
        },
    )
    assert first_split(trial) == (2, 3)


def test_imp_report_answers_the_split_questions_and_writes_the_note(tmp_path: Path) -> None:
    path, study = _search(tmp_path, _imp_doc())
    spec = load_spec(path)
    text = write_report(study, spec, tmp_path / "before").read_text()
    assert "## Confirmed on test" in text and "Not confirmed yet" in text
    assert "from the search's own seeds (no confirmation yet)" in text
    assert "Not confirmed on test yet" in get_note(study)

    assert search.confirm.main([str(path)]) == 0
    out = tmp_path / "report"
    text = write_report(study, spec, out).read_text()
    by = _confirm_trials(study)
    assert set(by) == {"baseline", "best 1"} and all(len(ts) == 3 for ts in by.values())
    assert "| baseline | #0 |" in text and "| best 1 |" in text
    assert "Seeds: 1000, 1001, 1002" in text and "the test set was used only here" in text
    assert (
        text.index("## Confirmed on test") < text.index("## IMP: P(split by level)") < text.index("## Trials by state")
    )

    # P(split by level), recomputed from the runs' split_level attributes (not their histories).
    last = max(int(read_record(t).metrics["levels_done"]) for ts in by.values() for t in ts)
    expected = {
        lb: [np.mean([0 <= read_record(t).metrics["split_level"] <= lv for t in ts]) for lv in range(last + 1)]
        for lb, ts in by.items()
    }
    assert "| level | baseline (3 seeds) | best 1 (3 seeds) |" in text
    for lv in range(last + 1):
        assert f"| {lv} | {expected['baseline'][lv]:.2f} | {expected['best 1'][lv]:.2f} |" in text

    # The bound: no split keeps more than P/k = 384/2 prunable parameters.
    runs = [t for ts in by.values() for t in ts]
    assert {read_record(t).metrics["theory_max_split_params"] for t in runs} == {192.0}
    n_split = sum(read_record(t).metrics["split_level"] >= 0 for t in by["baseline"])
    assert f"| baseline | {n_split}/3 | 192 |" in text and "## IMP: first split against the bound P/k" in text

    # Split vs never split across the search's single-seed runs: scipy's Mann-Whitney U on per-seed values.
    per = [read_record(t).replicates["per_seed"] for t in study.get_trials()]
    levels = [lv for p in per for lv in p["split_level"]]
    dense = [a for p in per for a in p["val_dense_acc"]]
    split = [a for a, lv in zip(dense, levels) if lv >= 0]
    never = [a for a, lv in zip(dense, levels) if lv < 0]
    assert f"Across the search's {len(levels)} single-seed runs ({len(split)} split, {len(never)} never" in text
    assert len(split) >= 2 and len(never) >= 2, "the fixture must give both groups"
    p = stats.mannwhitneyu(split, never, alternative="two-sided").pvalue
    assert f"| `val_dense_acc` | {np.mean(split):.4f} | {np.mean(never):.4f} |" in text and f"| {p:.3g} |" in text
    assert "## IMP: zombies" in text and "not answerable" not in text
    assert "### Do zombies with a positive bias survive more levels than those with a negative one?" in text
    assert "log-rank p = " in text or "Not enough data: a test needs at least 8 zombies of each sign" in text

    # The cut by level: the dense network's cut is every weight at task 0's inputs and outputs (2 x 16 + 2 x 16).
    base = next(t for t in study.get_trials() if t.system_attrs.get("fixed_params"))
    assert [d["cut_weights"][0] for d in read_record(base).run_data] == [64.0, 64.0]
    assert all(len(read_record(t).run_data) == 1 for ts in by.values() for t in ts), "confirmation runs store theirs"
    assert "| 0 | 64 ± 0 (2) |" in text and "## IMP: minimum cut between the tasks by level" in text

    pngs = {"split_by_level.png", "split_bound.png", "split_vs_accuracy.png", "cut_by_level.png", "negative_biases.png"}
    for name in pngs:
        assert f"]({name})" in text
        _png(out / name)
    assert pngs | {"report.md"} <= _uploaded(study)

    note = get_note(study)
    assert note.startswith("# Morning answer: ri") and "Not confirmed" not in note
    assert "Confirmed best: best 1" in note and "| best 1 |" in note and "P(split by level" in note
    assert "](" not in note and "http" not in note, "the note is link-free"


def test_dendritic_report_compares_with_the_users_table_and_shows_the_knobs(tmp_path: Path, monkeypatch) -> None:
    require_mnist()
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    path, study = _search(tmp_path, _dendritic_doc())
    assert search.confirm.main([str(path)]) == 0
    out = tmp_path / "report"
    text = write_report(study, load_spec(path), out).read_text()
    by = _confirm_trials(study)
    assert set(by) == {"baseline", "best 1"} and all(len(ts) == 2 for ts in by.values())
    assert "## Confirmed on test" in text and "Seeds: 1000, 1001" in text

    assert "## Dendritic: the confirmed best against the user's table" in text
    assert "| user, with resampling | research log 000 | 96.40 % | - | 50 | 3,722 |" in text
    assert "| user, without resampling | research log 000 | 93.00 % | - | 50 | 3,722 |" in text
    values = [t.value for t in sorted(by["best 1"], key=lambda t: read_record(t).seed)]
    mean, std = np.mean(values), np.std(values, ddof=1)
    assert f"| confirmed best (best 1) | confirmed, 2 fresh seeds | {100 * mean:.2f} % ± {100 * std:.2f} % |" in text
    p = stats.ttest_1samp(values, 0.964).pvalue
    assert f"Against the user's 96.40 % with resampling: -{100 * (0.964 - mean):.2f} %" in text
    assert f"(one-sample t-test, p = {p:.3g})" in text
    assert "Goal (at least 97.00 % mean over 5 fresh seeds): missed" in text
    assert "Not the user's setting (2 epochs, not 50;" in text

    assert "## Dendritic: how p, its schedule and the trigger interval matter" in text
    for knob in ("plasticity.p", "plasticity.schedule", "plasticity.every_steps"):
        assert f"- `{knob}` (importance" in text
    assert "| root |" in text and "| constant |" in text
    for name in ("plasticity_slice.png", "plasticity_contour.png"):
        assert f"]({name})" in text
        _png(out / name)
        assert name in _uploaded(study)

    note = get_note(study)
    assert note.startswith("# Morning answer: rd") and "Confirmed best: best 1" in note
    assert "Against the user's 96.40 % with resampling" in note and "| baseline |" in note
