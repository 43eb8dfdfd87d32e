"""The confirmation table: per configuration, the test metric over fresh seeds, against the baseline.

Per configuration: mean, sample standard deviation, a 95 % interval and the difference of the
means to the baseline with a two-sided significance test. For a metric measured per seed on a
continuous scale (an accuracy) the interval is Student's t and the test Welch's t-test (the
configurations' variances need not agree). For a 0/1 metric (a rate such as ``split_ticket``) the
interval is Wilson's score interval and the test Fisher's exact test on the 2x2 table of
successes, which stay valid for a handful of seeds where a t-test on 0/1 values does not. An
accuracy's t interval is clipped to [0, 1].
scipy does the statistics; this module only chooses and tabulates them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from scipy import stats

from search.confirm.runs import Candidate, candidate_trials
from search.store import read_record

__all__ = ["is_rate", "summarise", "compare", "confirmation_table", "format_table"]


def is_rate(metric: str, values: Sequence[float]) -> bool:
    """A 0/1 outcome per seed (``split_ticket``, ``still_ticket``, ``split``): every value 0 or 1 and
    the metric not an accuracy (an accuracy that happens to be 1.0 on every seed is no rate)."""
    return len(values) > 0 and "acc" not in metric and all(v in (0.0, 1.0) for v in values)


def _bounded(metric: str, values: Sequence[float]) -> bool:
    """An accuracy: a fraction in [0, 1], so its interval is clipped to [0, 1]."""
    return "acc" in metric and all(0.0 <= v <= 1.0 for v in values)


def summarise(values: Sequence[float], metric: str = "") -> dict[str, Any]:
    """n, mean, std (ddof 1), the 95 % interval and which interval it is.

    Student's t interval is symmetric, so for an accuracy with a zero among few seeds (a run
    that never split scores 0) it can leave [0, 1]: it is then clipped to [0, 1] and says so."""
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "interval": None}
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    if is_rate(metric, values):
        ci = stats.binomtest(int(arr.sum()), n).proportion_ci(0.95, method="wilson")
        lo, hi, kind = float(ci.low), float(ci.high), "Wilson"
    elif n > 1 and std > 0:
        lo, hi = stats.t.interval(0.95, n - 1, loc=mean, scale=std / math.sqrt(n))
        lo, hi, kind = float(lo), float(hi), "Student t"
        if _bounded(metric, values) and (lo < 0.0 or hi > 1.0):
            lo, hi, kind = max(lo, 0.0), min(hi, 1.0), "Student t, clipped to [0, 1]"
    else:
        lo, hi, kind = mean, mean, "none (no spread)"
    return {"n": n, "mean": mean, "std": std, "ci95": [lo, hi], "interval": kind}


def compare(values: Sequence[float], baseline: Sequence[float], metric: str = "") -> dict[str, Any]:
    """Difference of means to the baseline and the two-sided p-value of the suited test."""
    if len(values) < 2 or len(baseline) < 2:
        return {"diff": None, "p_value": None, "test": None}
    diff = float(np.mean(values) - np.mean(baseline))
    if is_rate(metric, values) and is_rate(metric, baseline):
        a, b = int(sum(values)), int(sum(baseline))
        p = stats.fisher_exact([[a, len(values) - a], [b, len(baseline) - b]]).pvalue
        return {"diff": diff, "p_value": float(p), "test": "Fisher exact"}
    if np.std(values) == 0 and np.std(baseline) == 0:
        return {"diff": diff, "p_value": 1.0 if diff == 0 else 0.0, "test": "none (no spread)"}
    p = stats.ttest_ind(values, baseline, equal_var=False).pvalue
    return {"diff": diff, "p_value": float(p), "test": "Welch t"}


def confirmation_table(
    study: optuna.Study, picked: Sequence[Candidate], seeds: Sequence[int], metric: str, direction: str
) -> dict[str, Any]:
    """The stored form of a confirmation: one row per candidate, baseline first."""
    rows = []
    for cand in picked:
        by_seed = {read_record(t).seed: t.values[0] for t in candidate_trials(study, cand.key)}
        values = [float(by_seed[s]) for s in seeds if s in by_seed]
        rows.append(
            {
                "label": cand.label,
                "search_trial": cand.search_trial,
                "params": dict(cand.params),
                "search_value": cand.search_value,
                "values": values,
                **summarise(values, metric),
            }
        )
    base = next((r for r in rows if r["label"] == "baseline"), None)
    for row in rows:
        row.update(
            compare(row["values"], base["values"], metric)
            if base is not None and row is not base
            else {"diff": None, "p_value": None, "test": None}
        )
    return {"study": study.study_name, "metric": metric, "direction": direction, "seeds": list(seeds), "rows": rows}


def _pct(v: float | None, metric: str) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f} %" if metric.endswith(("acc", "rate", "ticket")) else f"{v:.4g}"


def format_table(spec, table: dict[str, Any]) -> str:
    """The printed table (also the report's Markdown table: pipes render in both)."""
    m = table["metric"]
    head = (
        f"Confirmation of {spec.study.name!r} on {m} over {len(table['seeds'])} fresh seeds "
        f"({table['seeds'][0]}..{table['seeds'][-1]}); overrides: {table.get('overrides') or 'none'}"
    )
    lines = [
        head,
        "",
        f"| configuration | search trial | search value | {m} mean ± std | 95 % interval | n | "
        "Δ to baseline | p | test |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["rows"]:
        ci = f"[{_pct(r['ci95'][0], m)}, {_pct(r['ci95'][1], m)}]" if r["ci95"] else "-"
        mean = f"{_pct(r['mean'], m)} ± {_pct(r['std'], m)}" if r["mean"] is not None else "-"
        p = f"{r['p_value']:.3g}" if r["p_value"] is not None else "-"
        trial = "-" if r["search_trial"] is None else f"#{r['search_trial']}"
        sv = "-" if r["search_value"] is None else f"{r['search_value']:.4g}"
        diff = "-" if r["diff"] is None else _pct(r["diff"], m)
        lines.append(
            f"| {r['label']} | {trial} | {sv} | {mean} | {ci} | {r['n']} | {diff} | {p} | {r['test'] or '-'} |"
        )
    return "\n".join(lines)
