"""The "Confirmed on test" part of the morning report: the linked ``<name>-confirm`` study.

``python -m search.confirm`` stores its table as the confirm study's ``confirmation`` user
attribute and each (configuration, fresh seed) run as a trial with its ``candidate`` label,
``seed``, ``config``, per-step ``history`` and every final metric. This module reads them
(never writes) and renders the section; the kind-specific answers build on :class:`Confirmation`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.confirm import format_table
from search.store import load_named, read_record, spec_storage
from search.studyfile import StudySpec

__all__ = [
    "Confirmation",
    "confirmed_best",
    "confirmed_section",
    "fmt",
    "key_answer",
    "load_confirmation",
    "md_table",
]


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """The stored table and the COMPLETE confirmation trials by candidate label."""

    study_name: str
    table: dict[str, Any]
    trials: dict[str, list[FrozenTrial]]


def load_confirmation(study: optuna.Study, spec: StudySpec) -> Confirmation | None:
    """The study's confirmation, or None when none was run (or it stored no table yet)."""
    name = study.user_attrs.get("confirmation_study") or f"{spec.study.name}-confirm"
    confirm = load_named(spec_storage(spec), name)
    if confirm is None:
        return None
    table = confirm.user_attrs.get("confirmation")
    if not isinstance(table, dict) or not table.get("rows"):
        return None
    by_label: dict[str, list[FrozenTrial]] = defaultdict(list)
    for t in confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        by_label[str(read_record(t).candidate)].append(t)
    for trials in by_label.values():
        trials.sort(key=lambda t: read_record(t).seed or 0)
    return Confirmation(name, table, dict(by_label))


def fmt(value: float | None, metric: str) -> str:
    """A metric value as the confirmation table writes it: accuracies and rates in percent."""
    if value is None:
        return "-"
    pct = metric.endswith(("acc", "rate", "ticket"))
    return f"{100 * value:.2f} %" if pct else f"{value:.4g}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]


def confirmed_best(table: dict[str, Any]) -> dict[str, Any] | None:
    """The non-baseline row with the best confirmed mean (it need not be the search's best 1)."""
    rows = [r for r in table["rows"] if r["label"] != "baseline" and r.get("mean") is not None]
    if not rows:
        return None
    sign = 1.0 if table.get("direction", "maximize") == "maximize" else -1.0
    return max(rows, key=lambda r: sign * r["mean"])


def _row_text(row: dict[str, Any], metric: str) -> str:
    ci = row.get("ci95") or [None, None]
    return (
        f"{fmt(row['mean'], metric)} ± {fmt(row['std'], metric)} (95 % interval "
        f"[{fmt(ci[0], metric)}, {fmt(ci[1], metric)}], n = {row['n']})"
    )


def key_answer(conf: Confirmation) -> str:
    """One or two sentences: the confirmed best against the baseline confirmed the same way."""
    table, metric = conf.table, conf.table["metric"]
    best = confirmed_best(table)
    base = next((r for r in table["rows"] if r["label"] == "baseline"), None)
    if best is None:
        return "No configuration besides the baseline has confirmed runs yet."
    trial = "" if best["search_trial"] is None else f", search trial #{best['search_trial']}"
    text = f"Confirmed best: {best['label']}{trial}: `{metric}` {_row_text(best, metric)}."
    if base is None or base.get("mean") is None:
        return text + " The baseline has no confirmed runs, so there is nothing to compare it with."
    text += f" Baseline: {_row_text(base, metric)}."
    if best.get("diff") is None:
        return text + " Too few seeds for a difference test."
    verdict = (
        "significant at 5 %" if best["p_value"] is not None and best["p_value"] < 0.05 else "not significant at 5 %"
    )
    return text + (
        f" Difference {'+' if best['diff'] >= 0 else ''}{fmt(best['diff'], metric)} "
        f"({best['test']}, p = {best['p_value']:.3g}: {verdict})."
    )


def confirmed_section(spec: StudySpec, conf: Confirmation | None) -> list[str]:
    """The confirmation table with its seeds, or how to make one."""
    searched = spec.study.metrics[0]
    if conf is None:
        return [
            "## Confirmed on test",
            "",
            f"Not confirmed yet: no confirmation table in the storage. Run `python -m search.confirm "
            f"{spec.source}`. Until then every figure below is a search-time figure (validation, the "
            "search's own seeds, the winner of many noisy comparisons), not a result to publish.",
            "",
        ]
    table = conf.table
    seeds = ", ".join(str(s) for s in table["seeds"])
    return [
        "## Confirmed on test",
        "",
        format_table(spec, table),
        "",
        f"Seeds: {seeds} (the same fresh seeds for every configuration; no search trial trained "
        f"with them). The search chose and pruned on `{searched}`; the test set was used only here, "
        f"by `python -m search.confirm`, to judge `{table['metric']}` (stored in study "
        f"`{conf.study_name}`).",
        "",
        key_answer(conf),
        "",
    ]
