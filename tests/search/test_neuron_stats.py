"""The statistics over many runs' neuron records (search.report.neuron_stats), on constructed records
whose answers are known, checked against scipy called directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from search.report import neuron_stats as ns


def _run(neurons, levels: int = 6) -> dict:
    """A neuron record: each neuron (letter, onset, lifetime, bias) is active before its onset, in state
    ``letter`` for ``lifetime`` levels, then disconnected (censored when that runs past the last level)."""
    state, bias = [], []
    for lv in range(levels):
        row = ""
        for letter, onset, life, _b in neurons:
            row += "a" if lv < onset else letter if lv < onset + life else "d"
        state.append(row)
        bias.append([b for *_x, b in neurons])
    return {"hidden": [len(neurons)], "state": state, "bias": bias}


def test_more_needed_scales_with_the_studys_rate():
    assert ns.more_needed(8, 8, 4) == "enough"
    assert ns.more_needed(2, 8, 4).startswith("6 more, about 12 more seeds")
    assert "none in 5 runs" in ns.more_needed(0, 8, 5)


def test_kaplan_meier_by_hand_with_censoring():
    # lifetimes 1 (died), 1 (died), 2 (censored), 3 (died): S(1) = 1/2, S(2) = 1/2, S(3) = 0
    rec = _run([("z", 1, 1, 0.1), ("z", 1, 1, 0.2), ("z", 3, 2, 0.3), ("z", 1, 3, 0.4)], levels=5)
    s = ns.survival(ns.pooled_episodes([rec], "z"))
    assert (s.n, s.died, s.runs) == (4, 3, 1)
    assert s.alive == pytest.approx((1.0, 0.5, 0.5, 0.0)) and s.median == 1 and s.dead_within(1) == 0.5


@pytest.mark.parametrize("longer", ["positive", "negative"])
def test_zombies_whose_bias_sign_lives_longer_are_found_with_scipys_tests(longer):
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(5):
        neurons = []
        for _ in range(4):
            b = float(rng.uniform(0.05, 1.0))
            neurons.append(("z", 1, int(rng.integers(3, 5)), b if longer == "positive" else -b))  # long lives
            neurons.append(("z", 1, 1, -b if longer == "positive" else b))  # die at once
        runs.append(_run(neurons, levels=5))  # a 4-level life from level 1 is censored at level 4
    zb = ns.zombie_bias(runs)
    assert zb.enough and len(zb.positive) == len(zb.negative) == 20 and zb.runs_with == 5
    pos, neg = [e.lifetime for e in zb.positive], [e.lifetime for e in zb.negative]
    assert zb.mwu_p == pytest.approx(stats.mannwhitneyu(pos, neg, alternative="two-sided").pvalue)
    assert zb.mwu_p < 1e-4 and zb.logrank_p < 1e-4
    assert (np.mean(pos) > np.mean(neg)) == (longer == "positive") and (zb.rho > 0) == (longer == "positive")
    assert any(not e.died for e in (*zb.positive, *zb.negative)), "some lives are censored"


def test_too_few_zombies_say_how_many_more_are_needed():
    runs = [_run([("z", 1, 2, 0.5), ("z", 2, 1, -0.5), ("a", 9, 0, -0.1)]) for _ in range(2)]
    zb = ns.zombie_bias(runs)
    assert not zb.enough and zb.mwu_p is None and zb.logrank_p is None
    needs = zb.needs()
    assert any(n.startswith("positive-bias zombies: 6 more, about 6 more seeds") for n in needs)
    assert any(n.startswith("runs with zombies: 1 more") for n in needs)


def test_negative_biases_fading_with_pruning_by_level_and_across_runs():
    runs = []
    for r in range(7):
        levels = 3 + r % 2
        state = ["aaaa"] * levels
        # three of four biases negative at level 0; one turns positive per level
        bias = [[-0.1 if i >= lv + 1 else 0.2 for i in range(4)] for lv in range(levels)]
        runs.append({"hidden": [4], "state": state, "bias": bias})
    nb = ns.negative_biases(runs)
    assert nb.enough and nb.paired == 7
    assert nb.levels[0][:3] == (0, 7, 28) and nb.levels[0][3] == pytest.approx(0.75)
    assert nb.levels[3][1] == 3  # only the runs that reached level 3
    firsts = [0.75] * 7
    lasts = [np.mean(np.array(r["bias"][-1]) < 0) for r in runs]
    assert nb.first_mean == pytest.approx(0.75) and nb.last_mean == pytest.approx(np.mean(lasts))
    expected = stats.wilcoxon(np.subtract(firsts, lasts), alternative="two-sided").pvalue
    assert nb.wilcoxon_p == pytest.approx(expected) and nb.wilcoxon_p < 0.05
    assert not ns.negative_biases(runs[:3]).enough and ns.negative_biases(runs[:3]).wilcoxon_p is None


def test_dead_and_comatose_neurons_biases_are_not_live():
    rec = {"hidden": [3], "state": ["azc", "zdd"], "bias": [[-1.0, 2.0, -3.0], [None, -1.0, 5.0]]}
    assert ns.negative_biases([rec]).levels == ((0, 1, 2, 0.5, 0.5),)
