"""The IMP report's first split against the bound P/k: a network of P prunable parameters covering
k equal tasks can be split only once at most P/k of them are left (``theory_max_split_params``).
Per confirmed configuration, the earliest level the count schedule allows against the first split
seen; and the parameters at the first split of every run against P/k, as a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.report import plots_answers
from search.report.confirmed import Confirmation, md_table
from search.store import read_record

__all__ = ["bound_section"]


def _bound_rows(conf: Confirmation) -> list[list[Any]]:
    rows = []
    for label, trials in conf.trials.items():
        records = [read_record(t) for t in trials]
        pk = [r.metrics.get("theory_max_split_params") for r in records]
        pk = [p for p in pk if p is not None]
        if not pk:
            continue
        allowed = [
            next((h["step"] for h in r.history if h.get("prunable", np.inf) <= p), None) for r, p in zip(records, pk)
        ]
        split = [r.metrics for r in records if r.metrics.get("split_level", -1.0) >= 0]
        levels = [m["split_level"] for m in split]
        params = [m.get("split_params", np.nan) for m in split]
        over = sum(p > b for p, b in zip(params, (m["theory_max_split_params"] for m in split)))
        rows.append(
            [
                label,
                f"{len(split)}/{len(trials)}",
                f"{np.mean(pk):.4g}",
                _median([a for a in allowed if a is not None]),
                f"{_median(levels)} ({min(levels):g}–{max(levels):g})" if levels else "never split",
                f"{np.mean(params):.4g}" if params else "-",
                f"{np.mean(params) / np.mean(pk):.2f}" if params else "-",
                over,
            ]
        )
    return rows


def _median(values: Sequence[float]) -> str:
    return f"{np.median(values):g}" if len(values) else "-"


def bound_section(
    runs: Sequence[dict[str, float]], conf: Confirmation | None, out: Path
) -> tuple[list[str], list[Path]]:
    """The report's lines and pictures: ``runs`` are the search's seed runs (``imp.seed_runs``)."""
    lines = [
        "## IMP: first split against the bound P/k",
        "",
        "A network of P prunable parameters covering k equal tasks can be split only once at most P/k "
        "of them are left (at least P(k−1)/k removed). The earliest level the count schedule allows is "
        "the first level with at most P/k prunable parameters.",
        "",
    ]
    if conf is not None:
        lines += md_table(
            [
                "configuration",
                "seeds split",
                "P/k",
                "earliest level allowed (median)",
                "first split level, median (range)",
                "params at split (mean)",
                "÷ P/k",
                "splits above P/k",
            ],
            _bound_rows(conf),
        ) + [""]
    points = {
        "search runs": [
            (r["theory_max_split_params"], r["split_params"])
            for r in runs
            if r.get("split_params", -1) >= 0 and "theory_max_split_params" in r
        ]
    }
    if conf is not None:
        points["confirmation runs"] = [
            (m["theory_max_split_params"], m["split_params"])
            for ts in conf.trials.values()
            for m in (read_record(t).metrics for t in ts)
            if m.get("split_params", -1) >= 0
        ]
    if not any(points.values()):
        return lines + ["No run split, so there is no split to set against the bound."], []
    path = plots_answers.plot_split_bound(points, out / "split_bound.png")
    return lines + [
        f"Parameters at the first split against P/k, `{path.name}`:",
        "",
        f"![{path.stem}]({path.name})",
        "",
    ], [path]
