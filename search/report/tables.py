"""The generic sections of the morning report: the best trials (or the Pareto front), parameter
importances, failed and pruned trials; and the Markdown table they are drawn in."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.report.progress import describe_trial, short
from search.store import read_record
from search.studyfile import StudySpec

__all__ = ["EVALUATOR", "best_section", "importance_section", "importances_of", "params_of", "problem_section", "table"]

_BEST_ROWS = 10
_FRONT_ROWS = 50
_LISTED_PROBLEMS = 50
EVALUATOR = "PED-ANOVA, Optuna's default"


def _cell(value: object) -> str:
    """A Markdown table cell: short numbers, no pipes or newlines to break the row."""
    return short(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def params_of(trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameters present in every given trial, in first-seen order."""
    names = list(trials[0].params) if trials else []
    return [n for n in names if all(n in t.params for t in trials)]


def _trial_rows(trials: Sequence[FrozenTrial], metrics: Sequence[str], params: Sequence[str]) -> list[str]:
    rows = [
        [i + 1, t.number, *t.values, *(t.params.get(p, "-") for p in params), _wall_time(t)]
        for i, t in enumerate(trials)
    ]
    return table(["#", "trial", *metrics, *params, "wall time (s)"], rows)


def _wall_time(t: FrozenTrial) -> float | str:
    wall = read_record(t).wall_time_s
    return wall if wall is not None else "-"


def _front_section(spec: StudySpec, done: list[FrozenTrial], front: list[int]) -> list[str]:
    metrics, dirs = spec.study.metrics, spec.study.directions
    on_front = sorted((t for t in done if t.number in front), key=lambda t: t.values[0], reverse=dirs[0] == "maximize")
    shown = on_front[:_FRONT_ROWS]
    cut = f"; the first {len(shown)} shown" if len(shown) < len(on_front) else ""
    return [
        f"## Pareto front ({len(on_front)} of {len(done)} completed trials)",
        "",
        "Metric names: "
        + ", ".join(f"`{m}` ({d})" for m, d in zip(metrics, dirs))
        + f"; sorted by `{metrics[0]}`{cut}.",
        "",
        *_trial_rows(shown, metrics, params_of(shown)),
    ]


def best_section(spec: StudySpec, done: list[FrozenTrial], front: list[int]) -> list[str]:
    metrics, dirs = spec.study.metrics, spec.study.directions
    if not done:
        return ["## Best trials", "", "No completed trial yet, so there is no best value to show."]
    if spec.multi_objective:
        return _front_section(spec, done, front)
    ranked = sorted(done, key=lambda t: t.value, reverse=dirs[0] == "maximize")[:_BEST_ROWS]
    best, record = ranked[0], read_record(ranked[0])
    scalars = {  # every number it stored (its metrics, n_seeds, sampler_seed, ...) but its seed and wall time
        k: v
        for k, v in sorted(record.flat().items())
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed", "wall_time_s")
    }
    facts = {
        "config_hash": record.config_hash,
        "seed": record.seed,
        "version": record.version,
        "git_commit": record.git_commit,
        "device": record.device,
    }
    return [
        f"## Best trials (top {len(ranked)} by `{metrics[0]}`, {dirs[0]})",
        "",
        *_trial_rows(ranked, metrics, params_of(ranked)),
        "",
        f"### Best trial {best.number}",
        "",
        ", ".join(f"{a} `{v if v is not None else '-'}`" for a, v in facts.items()),
        "",
        f"Rerun it: `python -m search.rerun {spec.source} --trial {best.number}`",
        "",
        *(table(["metric", "value"], list(scalars.items())) if scalars else ["No metrics stored."]),
    ]


def importances_of(study: optuna.Study, spec: StudySpec, done: list[FrozenTrial]) -> tuple[dict, list[str]]:
    """Importances per objective, and one-line notes for what could not be computed."""
    if len(done) < 2:
        return {}, [f"Importances need at least 2 completed trials; this study has {len(done)}."]
    params = params_of(done)
    varied = [p for p in params if len({json.dumps(t.params[p]) for t in done}) > 1]
    notes = (
        [f"Left out, one value in every completed trial: {', '.join(sorted(set(params) - set(varied)))}."]
        if len(varied) < len(params)
        else []
    )
    if not varied:
        return {}, notes + ["No searched parameter took two different values, so importances are undefined."]
    result = {}
    for i, metric in enumerate(spec.study.metrics):
        if len({t.values[i] for t in done}) < 2:
            notes.append(f"`{metric}` is the same in every completed trial: its importances are undefined.")
            continue
        # With a target, PED-ANOVA looks for what makes the target LOW: negate a maximised objective.
        sign = -1.0 if spec.study.directions[i] == "maximize" else 1.0
        target = (lambda t, i=i, sign=sign: sign * t.values[i]) if spec.multi_objective else None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*importances of params to achieve low")
                result[metric] = optuna.importance.get_param_importances(study, params=varied, target=target)
        except (ValueError, RuntimeError) as err:  # an evaluator's edge case must not cost the whole report
            notes.append(f"Importances for `{metric}` could not be computed: {err}")
    return result, notes


def importance_section(importances: dict, notes: list[str], n_done: int) -> list[str]:
    lines = ["## Parameter importances", ""]
    if importances:
        first = next(iter(importances.values()))
        params = sorted({p for imp in importances.values() for p in imp}, key=lambda p: -first.get(p, 0.0))
        lines += [
            f"From {n_done} completed trials ({EVALUATOR}: how far each parameter's values in the "
            "best trials stray from its values in all of them; each column sums to 1)"
            + (". With this few trials, read them as rough." if n_done < 20 else "."),
            "",
        ]
        lines += table(
            ["parameter", *(f"for {m}" for m in importances)],
            [[p, *(imp.get(p, 0.0) for imp in importances.values())] for p in params],
        )
    return lines + ([""] if importances and notes else []) + [f"- {n}" for n in notes]


def problem_section(trials: Sequence[FrozenTrial]) -> list[str]:
    lines = []
    for state, title in ((TrialState.FAIL, "Failed trials"), (TrialState.PRUNED, "Pruned trials")):
        chosen = [t for t in trials if t.state == state]
        if not chosen:
            continue
        more = len(chosen) - _LISTED_PROBLEMS
        lines += [
            "",
            f"## {title} ({len(chosen)})",
            "",
            "```",
            *(describe_trial(t) for t in chosen[:_LISTED_PROBLEMS]),
            "```",
        ]
        lines += ["", f"... and {more} more, not listed."] if more > 0 else []
    return lines
