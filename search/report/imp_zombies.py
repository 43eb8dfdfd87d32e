"""The IMP report's zombie section: counts per level, and the research log's three observations
answered from every run's neuron record (:mod:`search.report.neuron_stats` holds the statistics).

The runs are every seed of the search's COMPLETE trials (a repeat is its original's seeds again,
so it is left out) and, when there is one, of the confirmation: different configurations pooled,
which is what "across the study's seeds" can mean in a search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from search.report import neuron_stats as ns
from search.report import plots_imp
from search.report.confirmed import Confirmation, confirmed_best, md_table
from search.store import read_record

__all__ = ["neuron_records", "zombie_section"]

LIFETIME = (
    "A zombie's *lifetime* is the number of levels it is a zombie: from the first level at which it is "
    "one up to the level at which its last outgoing weight is pruned (it died); one still a zombie at "
    "its run's last level is *censored* (it lived at least that long). A comatose neuron's alike, "
    "until its last incoming weight goes. Its bias is the trained bias at the level it became one."
)


def neuron_records(done: Sequence[FrozenTrial], conf: Confirmation | None) -> tuple[list[Mapping[str, Any]], str]:
    """Every run's neuron record, and where they came from in words."""
    search = [t for t in done if read_record(t).repeat_of is None]
    confirm = [t for ts in (conf.trials.values() if conf is not None else ()) for t in ts]
    out, counts = [], []
    for name, trials in (("search", search), ("confirmation", confirm)):
        recs = [d["neurons"] for t in trials for d in read_record(t).run_data if d and "neurons" in d]
        out += recs
        if trials:
            counts.append(f"{_n(len(recs), f'{name} run')} ({_n(len(trials), 'trial')})")
    return out, " and ".join(counts) or "no runs"


def _n(count: int, what: str) -> str:
    return f"{count} {what}" + ("" if count == 1 else "s")


def _counts(conf: Confirmation | None) -> list[str]:
    best = confirmed_best(conf.table) if conf is not None else None
    labels = [lb for lb in ("baseline", best["label"] if best else None) if lb and conf and conf.trials.get(lb)]
    if not labels:
        return []
    histories = {lb: [read_record(t).history for t in conf.trials[lb]] for lb in labels}
    last = max(h["step"] for hs in histories.values() for hist in hs for h in hist)
    rows = []
    for lv in range(int(last) + 1):
        row: list[Any] = [lv]
        for lb in labels:
            at = [h for hist in histories[lb] for h in hist if h.get("step") == lv and "zombies" in h]
            row.append(f"{np.mean([h['zombies'] for h in at]):.2f} (n={len(at)})" if at else "-")
        rows.append(row)
    return [
        "Zombie neurons (no incoming weights, live outgoing ones) per level, mean over the confirmation "
        "seeds that ran the level:",
        "",
        *md_table(["level", *(f"{lb}: zombies (seeds)" for lb in labels)], rows),
        "",
    ]


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _surv_row(name: str, s: ns.Survival | None, group: Sequence[ns.Episode]) -> list[Any]:
    if s is None:
        return [name, 0, "-", "-", "-", "-", "-"]
    mean = np.mean([e.lifetime for e in group]) if group else float("nan")
    median = "not reached" if s.median is None else f"{s.median}"
    return [name, s.n, s.died, s.n - s.died, f"{mean:.2f}", median, f"{s.dead_within(1):.2f} / {s.dead_within(2):.2f}"]


def _zombie_bias(records, source: str) -> tuple[list[str], list[str], ns.ZombieBias]:
    zb = ns.zombie_bias(records)
    head = "### Do zombies with a positive bias survive more levels than those with a negative one?"
    lines = [head, "", LIFETIME, ""]
    lines += [
        f"From {source}: {len(zb.positive) + len(zb.negative) + zb.no_bias} zombies in {zb.runs_with} of "
        f"{zb.runs} runs; {len(zb.positive)} with bias > 0, {len(zb.negative)} with bias < 0, "
        f"{zb.no_bias} with a pruned or zero bias (in neither group).",
        "",
    ]
    cols = ["group", "zombies", "died", "censored", "mean lifetime (censored at their length)", "median (Kaplan-Meier)"]
    rows = [
        _surv_row("bias > 0", zb.survival.get("bias > 0"), zb.positive),
        _surv_row("bias < 0", zb.survival.get("bias < 0"), zb.negative),
    ]
    lines += [*md_table([*cols, "P(dead within 1 / 2 levels)"], rows), ""]
    if not zb.enough:
        answer = (
            f"Not enough data: a test needs at least {ns.MIN_NEURONS} zombies of each sign from at least "
            f"{ns.MIN_RUNS} runs; " + "; ".join(zb.needs()) + "."
        )
    else:
        pos, neg = (float(np.mean([e.lifetime for e in g])) for g in (zb.positive, zb.negative))
        p = zb.logrank_p if zb.logrank_p is not None else zb.mwu_p
        means = f"mean lifetime {pos:.2f} levels with bias > 0, {neg:.2f} with bias < 0"
        if p is None or p >= 0.05:
            verdict = f"No difference at the 5 % level ({means})"
        elif pos > neg:
            verdict = f"Yes: zombies with a positive bias lived longer ({means})"
        else:
            verdict = f"No, the opposite: zombies with a negative bias lived longer ({means})"
        rho = "-" if zb.rho is None else f"{zb.rho:+.2f}"
        answer = (
            f"{verdict}; log-rank p = {_p(zb.logrank_p)}, Mann-Whitney U p = {_p(zb.mwu_p)}, Spearman "
            f"rho(bias, lifetime) = {rho} (p = {_p(zb.rho_p)}); {len(zb.positive)} against {len(zb.negative)} "
            f"zombies from {zb.runs_with} runs (neurons of one run are not independent: the p-values are "
            "optimistic)."
        )
    return [*lines, answer, ""], [f"- Zombie bias and survival: {answer}"], zb


def _comatose(records, source: str) -> tuple[list[str], list[str], ns.Survival | None]:
    pooled = ns.pooled_episodes(records, "c")
    zombies = ns.pooled_episodes(records, "z")
    s = ns.survival(pooled)
    head = ["neurons", "n", "died", "censored", "mean lifetime (censored at their length)", "median (Kaplan-Meier)"]
    rows = [
        _surv_row("comatose", s, [e for _, e in pooled]),
        _surv_row("zombies (all)", ns.survival(zombies), [e for _, e in zombies]),
    ]
    lines = [
        "### Do comatose neurons die (become disconnected) within few levels?",
        "",
        *md_table([*head, "P(dead within 1 / 2 levels)"], rows),
        "",
    ]
    runs_with = s.runs if s else 0
    if s is None or s.n < ns.MIN_NEURONS or runs_with < ns.MIN_RUNS:
        need = [f"comatose neurons: {ns.more_needed(s.n if s else 0, ns.MIN_NEURONS, len(records))}"]
        if runs_with < ns.MIN_RUNS:
            need.append(f"runs with comatose neurons: {ns.more_needed(runs_with, ns.MIN_RUNS, len(records))}")
        answer = f"Not enough data (from {source}): " + "; ".join(need) + "."
    else:
        median = "more than the levels observed" if s.median is None else f"{s.median} level(s)"
        answer = (
            f"{s.n} comatose neurons in {runs_with} of {len(records)} runs: {100 * s.dead_within(1):.0f} % "
            f"were disconnected within 1 level and {100 * s.dead_within(2):.0f} % within 2 (Kaplan-Meier); "
            f"median lifetime {median}."
        )
    return [*lines, answer, ""], [f"- Comatose neurons: {answer}"], s


def _negative(records, source: str, out: Path) -> tuple[list[str], list[Path], list[str]]:
    nb = ns.negative_biases(records)
    lines = [
        "### Do negative biases disappear as the network is pruned?",
        "",
        "Per level, the fraction negative among the live biases of hidden neurons with live outgoing "
        f"weights (active or zombie: the biases that reach the outputs), from {source}:",
        "",
    ]
    if not nb.levels:
        return [*lines, "No neuron records: nothing to count.", ""], [], []
    lines += md_table(
        ["level", "runs", "live hidden biases", "fraction < 0 (pooled)", "mean of the runs' fractions"],
        [[lv, r, n, f"{a:.3f}", f"{b:.3f}"] for lv, r, n, a, b in nb.levels],
    )
    if not nb.enough:
        answer = (
            f"Not enough data for a test across seeds: {nb.paired} runs with live biases at a pruned level; "
            f"the Wilcoxon signed-rank test needs {ns.MIN_PAIRED_RUNS} ({ns.MIN_PAIRED_RUNS - nb.paired} more seeds)."
        )
    else:
        trend = "fell" if nb.last_mean < nb.first_mean else "rose" if nb.last_mean > nb.first_mean else "stayed"
        answer = (
            f"Across {nb.paired} runs the fraction negative {trend} from {nb.first_mean:.3f} at level 0 to "
            f"{nb.last_mean:.3f} at each run's last level with live biases (mean over runs; Wilcoxon "
            f"signed-rank p = {_p(nb.wilcoxon_p)})."
        )
    path = plots_imp.plot_negative_biases(nb.levels, out / "negative_biases.png")
    lines += [
        "",
        answer,
        "",
        f"Fraction of negative biases by level, `{path.name}`:",
        "",
        f"![{path.stem}]({path.name})",
        "",
    ]
    return lines, [path], [f"- Negative biases: {answer}"]


def zombie_section(
    done: Sequence[FrozenTrial], conf: Confirmation | None, out: Path
) -> tuple[list[str], list[Path], list[str]]:
    """The zombie section's lines, figures and note lines."""
    lines = ["## IMP: zombies", "", *_counts(conf)]
    records, source = neuron_records(done, conf)
    if not records:
        return [*lines, "No run stored its neuron record (trials from before it was stored): no answers.", ""], [], []
    a, na, zb = _zombie_bias(records, source)
    b, nb, cs = _comatose(records, source)
    c, fc, nc = _negative(records, source, out)
    curves = {f"zombies, {k}": (v.alive, v.n) for k, v in zb.survival.items() if v is not None}
    if cs is not None:
        curves["comatose"] = (cs.alive, cs.n)
    figures = list(fc)
    if curves:
        path = plots_imp.plot_survival(curves, out / "neuron_survival.png")
        a += [
            f"Survival of zombies by bias sign and of comatose neurons, `{path.name}`:",
            "",
            f"![{path.stem}]({path.name})",
            "",
        ]
        figures.insert(0, path)
    return [*lines, *a, *b, *c], figures, [*na, *nb, *nc]
