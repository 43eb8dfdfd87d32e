"""The IMP report's graded distance to a split: the minimum cut between the tasks by level.

For the search's baseline (the first enqueued trial) and its best trial, per level the mean and
spread over the trial's seeds of ``cut_weights`` (fewest weights whose removal leaves no path
between two tasks) and ``cut_mass`` (least |w| doing so), from each seed's ``run_data``
(:mod:`core.analysis.cut` defines both; 0 exactly when no component holds two tasks). A seed that
ended with cut 0 (it stopped at its split) counts as 0 at every later level: pruning only removes
weights, so a cut that is 0 stays 0. A seed that ended above 0 is missing from the later levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from search.report import plots_imp
from search.report.confirmed import md_table
from search.store import read_record
from search.studyfile import StudySpec

__all__ = ["MEASURES", "baseline_and_best", "cut_curves", "cut_section"]

MEASURES = ("cut_weights", "cut_mass")


def baseline_and_best(spec: StudySpec, done: Sequence[FrozenTrial]) -> dict[str, FrozenTrial]:
    """The search's baseline (the trial of the first enqueued parameters) and its best trial."""
    sign = -1.0 if spec.study.directions[0] == "maximize" else 1.0
    ranked = sorted(done, key=lambda t: sign * t.values[0])
    base = next(
        (t for t in done if spec.study.enqueue and t.system_attrs.get("fixed_params") == dict(spec.study.enqueue[0])),
        None,
    )
    pairs = (("baseline", base), ("search best", ranked[0] if ranked else None))
    return {label: t for label, t in pairs if t is not None}


def _seed_cuts(trial: FrozenTrial, measure: str) -> list[list[float]]:
    """Per seed of the trial, its ``measure`` per level (seeds without it left out)."""
    out = []
    for data in read_record(trial).run_data:
        values = (data or {}).get(measure)
        if values and all(v is not None for v in values):
            out.append([float(v) for v in values])
    return out


def cut_curves(seeds: Sequence[Sequence[float]]) -> tuple[list[int], list[float], list[float], list[int]]:
    """(levels, mean, std (ddof 1; 0 for one seed), seeds) per level, a cut of 0 carried to later levels."""
    last = max(len(s) for s in seeds)
    levels, mean, std, n = [], [], [], []
    for lv in range(last):
        at = [s[lv] if lv < len(s) else 0.0 for s in seeds if lv < len(s) or s[-1] == 0]
        levels.append(lv)
        mean.append(float(np.mean(at)))
        std.append(float(np.std(at, ddof=1)) if len(at) > 1 else 0.0)
        n.append(len(at))
    return levels, mean, std, n


def _cell(curve, lv: int, digits: int) -> str:
    levels, mean, std, n = curve
    if lv >= len(levels) or n[lv] == 0:
        return "-"
    if n[lv] == 1:
        return f"{mean[lv]:.{digits}f} (1)"
    return f"{mean[lv]:.{digits}f} ± {std[lv]:.{digits}f} ({n[lv]})"


def cut_section(spec: StudySpec, done: Sequence[FrozenTrial], out: Path) -> tuple[list[str], list[Path], list[str]]:
    """The report's lines, pictures and note lines on the cut by level."""
    curves: dict[str, dict[str, Any]] = {}
    zero: dict[str, list[float]] = {}
    ks = {int(spec.experiment.data.k)}
    for label, trial in baseline_and_best(spec, done).items():
        seeds = {m: _seed_cuts(trial, m) for m in MEASURES}
        ks.add(int(((read_record(trial).config or {}).get("data") or {}).get("k", 2)))
        if all(seeds.values()):
            name = f"{label} (#{trial.number})"
            curves[name] = {m: cut_curves(s) for m, s in seeds.items()}
            zero[name] = [next((lv for lv, c in enumerate(s) if c == 0), -1) for s in seeds["cut_weights"]]
    k = max(ks)
    bound = (
        ""
        if k <= 2
        else (
            f" With up to k = {k} tasks the exact minimum multiway cut is NP-hard: the value is the sum of "
            "the k-1 smallest isolating cuts (each task against all others), an upper bound within a "
            f"factor {2 - 2 / k:.2f} of the minimum."
        )
    )
    lines = [
        "## IMP: minimum cut between the tasks by level",
        "",
        "A graded distance to a split: `cut_weights` is the fewest weights, `cut_mass` the least total |w|, "
        "whose removal would leave no path between two tasks' inputs and outputs; 0 exactly when no "
        "connected component holds two tasks (split also needs each task's outputs reachable from its "
        "own inputs)." + bound + " Mean ± std over the trial's seeds (in brackets: the seeds at that level); "
        "a seed that ended with cut 0 counts as 0 at later levels (pruning only removes weights).",
        "",
    ]
    if not curves:
        return lines + ["No per-seed cut stored (trials run before the cut was measured): nothing to show."], [], []
    last = max(len(c["cut_weights"][0]) for c in curves.values())
    head = [f"{name}: {m}" for name in curves for m in MEASURES]
    rows = [
        [lv, *(_cell(c[m], lv, 0 if m == "cut_weights" else 3) for c in curves.values() for m in MEASURES)]
        for lv in range(last)
    ]
    lines += [*md_table(["level", *head], rows), ""]
    note = []
    for name, levels in zero.items():
        reached = [lv for lv in levels if lv >= 0]
        text = (
            f"{name}: the cut reached 0 in {len(reached)} of {len(levels)} seeds"
            + (f", first at level {np.median(reached):g} (median)" if reached else "")
            + "."
        )
        lines.append(f"- {text}")
        note.append(f"- Cut between tasks, {text}")
    path = plots_imp.plot_cut_by_level(
        {name.split(" (#")[0]: c for name, c in curves.items()}, out / "cut_by_level.png"
    )
    lines += ["", f"The cut by level, `{path.name}`:", "", f"![{path.stem}]({path.name})", ""]
    return lines, [path], note
