"""The IMP answers in the morning report, the research log's questions (seed 002):

- how likely is the network to split, by level: P(split by level) over seeds, for the confirmed
  best and the baseline (from the confirmation runs' per-level ``split`` flags; without a
  confirmation, from the search trials' per-seed ``split_level``);
- at what point could it split first: the first split against the bound P/k (a split network of
  k equal tasks keeps at most P/k of its P prunable parameters, ``theory_max_split_params``);
- "a relationship between not splitting and bad performance": across the search's runs, the
  accuracy of runs that split against runs that never split (Mann-Whitney U, scipy);
- the minimum cut between the tasks by level, a graded distance to a split (:mod:`search.report.imp_cut`);
- zombies: their counts per level, whether a positive bias keeps them alive longer, whether comatose
  neurons die soon, whether negative biases disappear (:mod:`search.report.imp_zombies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from optuna.trial import FrozenTrial
from scipy import stats

from search.report import plots_answers
from search.report.confirmed import Confirmation, confirmed_best, md_table
from search.report.imp_bound import bound_section
from search.report.imp_cut import baseline_and_best, cut_section
from search.report.imp_zombies import zombie_section
from search.report.kinds import KindSections, ReportInputs
from search.store import read_record
from search.studyfile import StudySpec

__all__ = ["first_split", "imp_sections", "seed_runs", "split_by_level"]


def first_split(trial: FrozenTrial) -> tuple[float | None, int]:
    """(first split level or None, last level run) of one single-seed run, from its level history."""
    record = read_record(trial)
    history, metrics = record.history, record.metrics
    last = int(max((h.get("step", 0) for h in history), default=metrics.get("levels_done", 0)))
    first = next((h["step"] for h in history if h.get("split", 0.0) >= 1.0 and "step" in h), None)
    if first is None and not history and metrics.get("split_level", -1.0) >= 0:
        first = metrics["split_level"]
    return first, last


def split_by_level(runs: Sequence[tuple[float | None, int]], last: int) -> list[float]:
    """Fraction of runs split at or before each level 0..last (a run that never split within its
    budget counts as not split at every level: censored, never averaged as a level)."""
    return [float(np.mean([f is not None and f <= lv for f, _ in runs])) for lv in range(last + 1)]


def seed_runs(trials: Sequence[FrozenTrial]) -> list[dict[str, float]]:
    """Every single-seed run of the given search trials: per-seed values where replicated."""
    out = []
    for record in map(read_record, trials):
        per = (record.replicates or {}).get("per_seed") or {}
        if per:
            n = len(next(iter(per.values())))
            out += [{k: v[i] for k, v in per.items() if len(v) == n} for i in range(n)]
        else:  # every number the run stored, as it stored them
            out.append({k: v for k, v in record.flat().items() if isinstance(v, (int, float))})
    return out


def _sources(
    spec: StudySpec, done: list[FrozenTrial], conf: Confirmation | None
) -> tuple[str, dict[str, list[tuple[float | None, int]]]]:
    """Per configuration (baseline, best ...): the (first split, last level) of each seed."""
    if conf is not None:
        best = confirmed_best(conf.table)
        labels = ["baseline"] + ([best["label"]] if best else [])
        return "the confirmation runs on fresh seeds", {
            lb: [first_split(t) for t in conf.trials[lb]] for lb in labels if conf.trials.get(lb)
        }
    out = {}
    for label, t in baseline_and_best(spec, done).items():
        out[label] = [
            (r["split_level"] if r.get("split_level", -1) >= 0 else None, int(r.get("levels_done", 0)))
            for r in seed_runs([t])
        ]
    return "the search's own seeds (no confirmation yet)", out


def _split_levels(spec, done, conf, out: Path) -> tuple[list[str], list[Path], list[str]]:
    source, runs = _sources(spec, done, conf)
    lines = ["## IMP: P(split by level)", ""]
    if not runs:
        return lines + ["No runs of the baseline or the best configuration to count splits in."], [], []
    last = max(lv for rs in runs.values() for _, lv in rs)
    curves = {lb: (list(range(last + 1)), split_by_level(rs, last), len(rs)) for lb, rs in runs.items()}
    lines += [
        f"Fraction of seeds whose network is split at or before each level, from {source}. A seed "
        "that never split within its levels counts as not split at every level; a run that stops "
        "at its first split (`imp.stop_at_split`) counts as split at every later level.",
        "",
        *md_table(
            ["level", *(f"{lb} ({n} seeds)" for lb, (_, _, n) in curves.items())],
            [[lv, *(f"{c[1][lv]:.2f}" for c in curves.values())] for lv in range(last + 1)],
        ),
        "",
    ]
    path = plots_answers.plot_split_by_level(curves, out / "split_by_level.png")
    lines += [f"P(split by level), `{path.name}`:", "", f"![{path.stem}]({path.name})", ""]
    note = [
        f"- P(split by level {last}): "
        + ", ".join(f"{lb} {c[1][-1]:.2f} of {c[2]} seeds" for lb, c in curves.items())
        + f", from {source}."
    ]
    ticket = (
        {
            lb: [
                m["test_split_ticket"]
                for m in (read_record(t).metrics for t in conf.trials[lb])
                if "test_split_ticket" in m
            ]
            for lb in curves
        }
        if conf is not None
        else {}
    )
    if any(ticket.values()):
        note.append(
            "- Split into one subnetwork per task while still a ticket (on test): "
            + ", ".join(f"{lb} {sum(v):g} of {len(v)} seeds" for lb, v in ticket.items() if v)
            + "."
        )
        lines += [note[-1][2:], ""]
    return lines, [path], note


def _split_vs_acc(done, out: Path) -> tuple[list[str], list[Path], list[str]]:
    runs = [r for r in seed_runs(done) if "split_level" in r]
    split = [r for r in runs if r["split_level"] >= 0]
    never = [r for r in runs if r["split_level"] < 0]
    lines = [
        "## IMP: does not splitting go with lower accuracy?",
        "",
        f"Across the search's {len(runs)} single-seed runs ({len(split)} split, {len(never)} never split; "
        "validation accuracy; runs of one trial share a configuration). `val_dense_acc` is the dense "
        "network before pruning; `val_acc` the last level run: with `imp.stop_at_split` a run that "
        "splits ends less pruned than one that never splits, so it mixes splitting with sparsity.",
        "",
    ]
    metrics = [m for m in ("val_dense_acc", "val_acc") if all(m in r for r in runs)]
    if len(split) < 2 or len(never) < 2 or not metrics:
        return lines + ["Needs at least 2 runs that split and 2 that never split: no test."], [], []
    rows, note = [], []
    for m in metrics:
        a, b = [r[m] for r in split], [r[m] for r in never]
        p = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
        rows.append([f"`{m}`", f"{np.mean(a):.4f}", f"{np.mean(b):.4f}", f"{np.mean(a) - np.mean(b):+.4f}", f"{p:.3g}"])
        note.append(
            f"- Search runs, `{m}`: split {np.mean(a):.4f}, never-split runs {np.mean(b):.4f} "
            f"(Mann-Whitney U p = {p:.3g}, {len(a)} vs {len(b)} runs)."
        )
    lines += md_table(["metric", "split (mean)", "never split (mean)", "difference", "Mann-Whitney U p"], rows)
    path = plots_answers.plot_split_vs_acc(
        {m: ([r[m] for r in split], [r[m] for r in never]) for m in metrics}, out / "split_vs_accuracy.png"
    )
    return (
        lines + ["", f"Split against never-split runs, `{path.name}`:", "", f"![{path.stem}]({path.name})", ""],
        [path],
        note,
    )


def imp_sections(inputs: ReportInputs) -> KindSections:
    """When the network splits, the bound on split size, split against accuracy, the cut by level, zombies."""
    spec, done, conf, out = inputs.spec, inputs.done, inputs.conf, inputs.out
    a, fa, na = _split_levels(spec, done, conf, out)
    b, fb = bound_section(seed_runs(done), conf, out)
    c, fc, nc = _split_vs_acc(done, out)
    d, fd, nd = cut_section(spec, done, out)
    e, fe, ne = zombie_section(done, conf, out)
    return KindSections([*a, *b, *c, *d, *e], [*fa, *fb, *fc, *fd, *fe], [*na, *nc, *nd, *ne])
