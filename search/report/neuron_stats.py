"""Statistics over the neuron records of many IMP runs (pure: numbers in, numbers out).

The research log's three observations, each tested across runs (seeds) with the neurons pooled:

- zombies with a positive bias survive more levels than those with a negative one: lifetimes by
  bias sign (Mann-Whitney U; the log-rank test, which honours censoring) and Spearman's rho of
  lifetime against bias;
- comatose neurons die (become disconnected) within few levels: Kaplan-Meier survival of their
  lifetimes (scipy.stats.ecdf on censored data);
- negative biases disappear as the network is pruned: per level, the fraction of live hidden
  biases that are negative, and per run level 0 against its last level (Wilcoxon signed-rank).

Lifetimes, censoring and biases are :mod:`core.analysis.neurons`'s. Mann-Whitney U and Spearman
take a censored lifetime at its observed length (a lower bound); the log-rank test and the
Kaplan-Meier curves treat it as censored. Neurons of one run are not independent, so the pooled
p-values are optimistic; the number of runs behind each answer is given with it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from core.analysis.neurons import Episode, episodes, live_biases

__all__ = [
    "MIN_NEURONS",
    "MIN_RUNS",
    "MIN_PAIRED_RUNS",
    "Survival",
    "ZombieBias",
    "NegativeBiases",
    "more_needed",
    "pooled_episodes",
    "survival",
    "zombie_bias",
    "negative_biases",
]

MIN_NEURONS = 8  # per group, before a test is run (8 against 8 can reach p < 0.001)
MIN_RUNS = 3  # runs (seeds) behind a pooled answer
MIN_PAIRED_RUNS = 6  # the Wilcoxon signed-rank test's smallest n that can reach p < 0.05 (two-sided)


def more_needed(have: int, need: int, runs: int) -> str:
    """Roughly how many more runs (seeds) give ``need`` items, at this study's rate of ``have`` in ``runs``."""
    if have >= need:
        return "enough"
    if have == 0 or runs == 0:
        return f"none in {runs} runs: at least {need} needed, more seeds alone may not give them"
    more = math.ceil((need - have) * runs / have)
    return f"{need - have} more, about {more} more seeds at this study's rate ({have} in {runs} runs)"


@dataclass(frozen=True)
class Survival:
    """Kaplan-Meier survival of pooled lifetimes: ``alive[j]`` = P(lifetime > j levels), j = 0, 1, ..."""

    n: int
    died: int
    runs: int  # runs with at least one such neuron
    alive: tuple[float, ...]
    median: float | None  # the first j with alive[j] <= 0.5; None when the curve stays above

    def dead_within(self, j: int) -> float:
        return 1.0 - self.alive[min(j, len(self.alive) - 1)]


def survival(pooled: Sequence[tuple[int, Episode]]) -> Survival | None:
    """Kaplan-Meier estimate over ``pooled`` (run index, episode); None when there is none."""
    if not pooled:
        return None
    life = np.array([e.lifetime for _, e in pooled], dtype=float)
    died = np.array([e.died for _, e in pooled])
    top = int(life.max())
    if died.any():
        data = stats.CensoredData(uncensored=life[died], right=life[~died])
        sf = stats.ecdf(data).sf
        alive = tuple(float(sf.evaluate(j)) for j in range(top + 1))
    else:
        alive = (1.0,) * (top + 1)
    median = next((j for j, a in enumerate(alive) if a <= 0.5), None)
    return Survival(len(life), int(died.sum()), len({r for r, _ in pooled}), alive, median)


def pooled_episodes(records: Sequence[Mapping[str, Any]], letter: str) -> list[tuple[int, Episode]]:
    """(run index, episode) of every neuron in state ``letter`` in every run's neuron record."""
    return [(i, e) for i, rec in enumerate(records) for e in episodes(rec, letter)]


@dataclass(frozen=True)
class ZombieBias:
    """Zombie lifetimes by the sign of their bias, over ``runs`` runs."""

    runs: int
    positive: tuple[Episode, ...]
    negative: tuple[Episode, ...]
    no_bias: int  # zombies whose bias is pruned or exactly 0: in neither group
    runs_with: int  # runs with at least one zombie
    mwu_p: float | None = None  # two-sided
    logrank_p: float | None = None  # two-sided
    rho: float | None = None  # Spearman, lifetime against bias, every zombie with a bias
    rho_p: float | None = None
    survival: dict[str, Survival | None] = field(default_factory=dict)

    @property
    def enough(self) -> bool:
        return min(len(self.positive), len(self.negative)) >= MIN_NEURONS and self.runs_with >= MIN_RUNS

    def needs(self) -> list[str]:
        """What is missing for a test, group by group (empty when there is enough)."""
        out = []
        for name, group in (("positive-bias zombies", self.positive), ("negative-bias zombies", self.negative)):
            if len(group) < MIN_NEURONS:
                out.append(f"{name}: {more_needed(len(group), MIN_NEURONS, self.runs)}")
        if self.runs_with < MIN_RUNS:
            out.append(f"runs with zombies: {more_needed(self.runs_with, MIN_RUNS, self.runs)}")
        return out


def zombie_bias(records: Sequence[Mapping[str, Any]]) -> ZombieBias:
    """Do zombies with a positive bias live more levels than those with a negative one?"""
    pooled = pooled_episodes(records, "z")
    pos = [(r, e) for r, e in pooled if e.bias is not None and e.bias > 0]
    neg = [(r, e) for r, e in pooled if e.bias is not None and e.bias < 0]
    base = ZombieBias(
        runs=len(records),
        positive=tuple(e for _, e in pos),
        negative=tuple(e for _, e in neg),
        no_bias=len(pooled) - len(pos) - len(neg),
        runs_with=len({r for r, _ in pooled}),
        survival={"bias > 0": survival(pos), "bias < 0": survival(neg)},
    )
    if not base.enough:
        return base
    a, b = [e.lifetime for _, e in pos], [e.lifetime for _, e in neg]
    with_bias = [e for _, e in pooled if e.bias is not None]
    with warnings.catch_warnings():  # all lifetimes equal: no test has anything to rank (p is NaN)
        warnings.simplefilter("ignore")
        mwu = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
        lr = stats.logrank(_censored(pos), _censored(neg), alternative="two-sided").pvalue
        rho, rho_p = stats.spearmanr([e.bias for e in with_bias], [e.lifetime for e in with_bias])
    return dataclasses.replace(base, mwu_p=_finite(mwu), logrank_p=_finite(lr), rho=_finite(rho), rho_p=_finite(rho_p))


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _censored(pooled: Sequence[tuple[int, Episode]]) -> stats.CensoredData:
    life = np.array([e.lifetime for _, e in pooled], dtype=float)
    died = np.array([e.died for _, e in pooled])
    return stats.CensoredData(uncensored=life[died], right=life[~died])


@dataclass(frozen=True)
class NegativeBiases:
    """Per level: runs that reached it, live hidden biases pooled, the pooled fraction negative,
    and the mean over runs of each run's fraction; then the paired test, across runs, of level 0 against
    each run's last level that still has live hidden biases."""

    levels: tuple[tuple[int, int, int, float, float], ...]  # (level, runs, biases, pooled frac, mean frac)
    paired: int  # runs with live biases at level 0 and at some level >= 1
    first_mean: float | None = None
    last_mean: float | None = None
    wilcoxon_p: float | None = None  # two-sided

    @property
    def enough(self) -> bool:
        return self.paired >= MIN_PAIRED_RUNS


def negative_biases(records: Sequence[Mapping[str, Any]]) -> NegativeBiases:
    """Do negative hidden biases disappear (pruned, turned positive, their neuron cut off) with pruning?"""
    per_run = [[live_biases(rec, lv) for lv in range(len(rec["state"]))] for rec in records]
    rows = []
    for lv in range(max((len(r) for r in per_run), default=0)):
        at = [r[lv] for r in per_run if len(r) > lv]
        pooled = [b for biases in at for b in biases]
        fracs = [np.mean(np.array(b) < 0) for b in at if b]
        if pooled:
            rows.append((lv, len(at), len(pooled), float(np.mean(np.array(pooled) < 0)), float(np.mean(fracs))))
    pairs = []  # per run: level 0 against its last level with live biases, when that is >= 1
    for r in per_run:
        last = max((lv for lv, biases in enumerate(r) if biases), default=0)
        if r and r[0] and last >= 1:
            pairs.append((np.mean(np.array(r[0]) < 0), np.mean(np.array(r[last]) < 0)))
    base = NegativeBiases(tuple(rows), len(pairs))
    if not pairs:
        return base
    first, last = (float(np.mean(x)) for x in zip(*pairs))
    p = None
    diffs = [a - b for a, b in pairs]
    if base.enough and any(d != 0 for d in diffs):
        p = float(stats.wilcoxon(diffs, alternative="two-sided").pvalue)
    return NegativeBiases(tuple(rows), len(pairs), first, last, p)
