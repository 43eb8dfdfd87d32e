"""The IMP report's cut-by-level and zombie sections on constructed trials (their stored run data):
the numbers shown are the trials' own, the answers follow the data, and missing data is said."""

from __future__ import annotations

import numpy as np
import optuna
from optuna.distributions import FloatDistribution

from search.report.imp_cut import cut_section
from search.report.imp_zombies import zombie_section
from search.studyfile import parse_spec
from tests.search.test_neuron_stats import _run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _spec():
    return parse_spec(
        {
            "study": {
                "name": "c",
                "direction": "maximize",
                "metric": "val_acc",
                "n_trials": 2,
                "enqueue": [{"train.lr": 0.01}],
            },
            "experiment": {"kind": "imp", "imp": {"levels": 3, "target_params": 20}},
            "search_space": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-1}},
        }
    )


def _trial(number, lr, value, run_data, **attrs):
    t = optuna.trial.create_trial(
        value=value,
        params={"train.lr": lr},
        distributions={"train.lr": FloatDistribution(1e-3, 1e-1)},
        user_attrs={"run_data": run_data, "config": {"data": {"k": 2}}, **attrs},
        system_attrs={"fixed_params": {"train.lr": lr}} if lr == 0.01 else {},
    )
    t.number = number
    return t


def _seed(cuts, neurons=None):
    return {"cut_weights": cuts, "cut_mass": [c / 10 for c in cuts], "neurons": neurons or _run([("a", 9, 0, 0.1)])}


def test_the_cut_table_gives_mean_and_spread_over_seeds_with_zero_carried_forward(tmp_path):
    base = _trial(0, 0.01, 0.5, [_seed([64, 30, 0]), _seed([64, 20, 5, 0]), _seed([64, 40])])
    best = _trial(1, 0.02, 0.9, [_seed([64, 10, 0])])
    lines, figures, note = cut_section(_spec(), [base, best], tmp_path)
    text = "\n".join(lines)
    assert "| level | baseline (#0): cut_weights | baseline (#0): cut_mass | search best (#1): cut_weights |" in text
    # level 2: seed 1 at 0, seed 2 at 5, seed 3 ended at level 1 above 0 (left out)
    at2 = [0, 5]
    assert f"| 2 | {np.mean(at2):.0f} ± {np.std(at2, ddof=1):.0f} (2) | {np.mean(at2) / 10:.3f} ±" in text
    assert "| 3 | 0 ± 0 (2) |" in text  # seed 1 ended at 0: 0 at level 3 too
    assert f"| 1 | {np.mean([30, 20, 40]):.0f} ± {np.std([30, 20, 40], ddof=1):.0f} (3) |" in text
    assert "| 1 | 30 ± 10 (3) | 3.000 ± 1.000 (3) | 10 (1) | 1.000 (1) |" in text
    assert "baseline (#0): the cut reached 0 in 2 of 3 seeds, first at level 2.5 (median)." in text
    assert len(note) == 2 and [f.name for f in figures] == ["cut_by_level.png"]
    assert figures[0].read_bytes().startswith(PNG_MAGIC)
    assert "nothing to show" in "\n".join(cut_section(_spec(), [_trial(0, 0.01, 0.5, [])], tmp_path)[0])


def _zombie_runs(n_runs, rng):
    runs = []
    for _ in range(n_runs):
        neurons = []
        for _ in range(3):
            b = float(rng.uniform(0.05, 1.0))
            neurons += [("z", 1, int(rng.integers(2, 4)), b), ("z", 1, 1, -b), ("c", 2, 1, 0.3)]
        runs.append(_seed([8, 4, 0, 0, 0], _run(neurons, levels=5)))
    return runs


def test_the_zombie_section_answers_from_every_seed_and_leaves_repeats_out(tmp_path):
    rng = np.random.default_rng(1)
    trials = [_trial(i, 0.02 + i / 100, 0.5, _zombie_runs(2, rng)) for i in range(3)]
    repeat = _trial(3, 0.05, 0.5, trials[0].user_attrs["run_data"], repeat_of=0)
    lines, figures, note = zombie_section([*trials, repeat], None, tmp_path)
    text = "\n".join(lines)
    assert "not answerable" not in text and "*lifetime*" in text and "*censored*" in text
    assert "From 6 search runs (3 trials): 36 zombies in 6 of 6 runs; 18 with bias > 0, 18 with bias < 0" in text
    assert "Yes: zombies with a positive bias lived longer" in text and "log-rank p = " in text
    assert "18 comatose neurons in 6 of 6 runs: 100 % were disconnected within 1 level" in text
    assert "### Do negative biases disappear as the network is pruned?" in text and "| 0 | 6 | 54 |" in text
    assert {f.name for f in figures} == {"neuron_survival.png", "negative_biases.png"}
    assert all(f.read_bytes().startswith(PNG_MAGIC) for f in figures) and len(note) == 3


def test_the_zombie_section_says_how_many_more_seeds_it_needs(tmp_path):
    trials = [_trial(0, 0.01, 0.5, _zombie_runs(1, np.random.default_rng(2)))]
    text = "\n".join(zombie_section(trials, None, tmp_path)[0])
    assert "Not enough data: a test needs at least 8 zombies of each sign from at least 3 runs" in text
    assert "positive-bias zombies: 5 more, about 2 more seeds at this study's rate (3 in 1 runs)" in text
    assert "1 runs with live biases at a pruned level; the Wilcoxon signed-rank test needs 6 (5 more seeds)" in text
    empty = "\n".join(zombie_section([_trial(0, 0.01, 0.5, [])], None, tmp_path)[0])
    assert "No run stored its neuron record" in empty
