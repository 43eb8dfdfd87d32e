"""The dendritic answers in the morning report: the confirmed best against the user's own table
and the baseline, and how the resampling rate p, its schedule and the trigger interval matter.

The user's figures are the reference table of docs/definitions.md (research log, seed 000): MNIST, 50 epochs,
the 3,722-parameter dANN (128 somata x 1 dendrite x 16 synapses, random inputs): 96.4 % test
accuracy with resampling, 93.0 % without. The goal is 97.0 % mean over 5 fresh seeds (docs/definitions.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from scipy import stats

from search.report import plots_answers
from search.report.confirmed import Confirmation, confirmed_best, fmt, md_table
from search.report.kinds import KindSections, ReportInputs
from search.store import read_record
from search.studyfile import StudySpec

__all__ = ["GOAL", "KNOBS", "USER_TABLE", "dendritic_sections"]

USER_TABLE = {"with resampling": 0.964, "without resampling": 0.930}  # test accuracy, research log 000
USER_EPOCHS, USER_PARAMS = 50, 3722
GOAL = 0.970  # mean test accuracy over 5 fresh seeds at 3,722 parameters and 50 epochs
KNOBS = ("plasticity.p", "plasticity.schedule", "plasticity.every_steps")


def _setup(trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    """What the confirmed runs of one configuration trained: epochs, training images, parameters."""
    records = [read_record(t) for t in trials]
    cfgs = [r.config or {} for r in records]
    params = [r.metrics.get("n_params_total", r.metrics.get("n_params")) for r in records]
    return {
        "epochs": {c.get("train", {}).get("epochs") for c in cfgs},
        "subset": {c.get("train", {}).get("train_subset", 0) for c in cfgs},
        "val_size": {c.get("data", {}).get("val_size", 0) for c in cfgs},
        "params": {int(p) for p in params if p is not None},
    }


def _one(values: set) -> str:
    return ", ".join(str(v) for v in sorted(values, key=str)) if values else "-"


def _comparable(setup: dict[str, Any]) -> list[str]:
    """Why a confirmed figure is not the user's setting, one phrase each (empty: it is)."""
    out = []
    if setup["epochs"] != {USER_EPOCHS}:
        out.append(f"{_one(setup['epochs'])} epochs, not {USER_EPOCHS}")
    if setup["params"] and setup["params"] != {USER_PARAMS}:
        out.append(f"{_one(setup['params'])} trainable parameters, not {USER_PARAMS:,}")
    if setup["subset"] - {0} or setup["val_size"] - {0}:
        out.append("not all 60,000 training images (train_subset / data.val_size)")
    return out


def _against_user(conf: Confirmation) -> list[str]:
    table, metric = conf.table, conf.table["metric"]
    best = confirmed_best(table)
    base = next((r for r in table["rows"] if r["label"] == "baseline"), None)
    lines = ["## Dendritic: the confirmed best against the user's table", ""]
    rows: list[list[object]] = [
        [f"user, {k}", "research log 000", fmt(v, "acc"), "-", USER_EPOCHS, f"{USER_PARAMS:,}"]
        for k, v in USER_TABLE.items()
    ]
    for r in (base, best):
        if r is None or r.get("mean") is None:
            continue
        setup = _setup(conf.trials.get(r["label"], []))
        ci = r.get("ci95") or [None, None]
        rows.append(
            [
                "baseline (the study's first enqueued configuration)"
                if r is base
                else f"confirmed best ({r['label']})",
                f"confirmed, {r['n']} fresh seeds",
                f"{fmt(r['mean'], metric)} ± {fmt(r['std'], metric)}",
                f"[{fmt(ci[0], metric)}, {fmt(ci[1], metric)}]",
                _one(setup["epochs"]),
                _one({f"{p:,}" for p in setup["params"]}),
            ]
        )
    lines += md_table(
        ["configuration", "source", f"{metric} (mean ± std)", "95 % interval", "epochs", "trainable parameters"], rows
    )
    if metric != "test_acc":
        return lines + [
            "",
            f"The confirmation judged `{metric}`, not test accuracy: the user's figures "
            "are test accuracies, so they are shown beside it, not compared.",
        ]
    lines.append("")
    if best is None or best.get("mean") is None:
        return lines + ["No configuration besides the baseline has confirmed runs yet."]
    values = best["values"]
    for name, ref in USER_TABLE.items():
        lines.append(f"- Against the user's {fmt(ref, metric)} {name}: " + _one_sample(values, ref, metric))
    goal = "met" if best["mean"] >= GOAL else "missed"
    lines.append(
        f"- Goal (at least {fmt(GOAL, metric)} mean over 5 fresh seeds): {goal} "
        f"({fmt(best['mean'], metric)} over {best['n']} seeds)."
    )
    if base is not None and best.get("diff") is not None:
        lines.append(
            f"- Against the baseline confirmed the same way: {'+' if best['diff'] >= 0 else ''}"
            f"{fmt(best['diff'], metric)} ({best['test']}, p = {best['p_value']:.3g})."
        )
    why = _comparable(_setup(conf.trials.get(best["label"], [])))
    if why:
        lines.append(
            f"- Not the user's setting ({'; '.join(why)}): the comparison with the user's table is indicative only."
        )
    return lines


def _one_sample(values: Sequence[float], ref: float, metric: str) -> str:
    """Whether the mean over seeds is above, below or indistinguishable from a reference figure."""
    mean = float(np.mean(values))
    diff = f"{'+' if mean >= ref else ''}{fmt(mean - ref, metric)}"
    if len(values) < 2 or np.std(values) == 0:
        return f"{diff} (too few seeds or no spread for a test)."
    p = float(stats.ttest_1samp(values, ref).pvalue)
    verdict = ("above it" if mean > ref else "below it") if p < 0.05 else "not distinguishable from it"
    return f"{diff}, {verdict} (one-sample t-test, p = {p:.3g})."


def _knob_lines(
    done: Sequence[FrozenTrial], knobs: Sequence[str], importances: dict, metric: str, maximize: bool
) -> list[str]:
    """Per knob: its importance, and a rank correlation (numeric) or per-choice summary (categorical)."""
    imp = next(iter(importances.values()), {}) if importances else {}
    y = np.array([t.values[0] for t in done])
    pick = max if maximize else min
    lines = []
    for k in knobs:
        share = f"importance {imp[k]:.2f}" if k in imp else "importance not computed"
        if isinstance(done[0].distributions[k], CategoricalDistribution):
            groups: dict[str, list[float]] = {}
            for t in done:
                groups.setdefault(json.dumps(t.params[k]), []).append(t.values[0])
            testable = [g for g in groups.values() if len(g) >= 2]
            p = (
                f"; Kruskal-Wallis p = {stats.kruskal(*testable).pvalue:.3g}"
                if len(testable) >= 2 and len({v for g in testable for v in g}) > 1
                else ""
            )
            lines += [
                f"- `{k}` ({share}{p}):",
                "",
                *md_table(
                    ["choice", "trials", f"mean {metric}", f"best {metric}"],
                    [
                        [json.loads(c), len(g), f"{np.mean(g):.4g}", f"{pick(g):.4g}"]
                        for c, g in sorted(groups.items(), key=lambda kv: -np.mean(kv[1]))
                    ],
                ),
                "",
            ]
        else:
            x = np.array([float(t.params[k]) for t in done])
            rho = stats.spearmanr(x, y) if len(set(x)) > 1 and len(set(y)) > 1 else None
            corr = (
                f"Spearman ρ = {rho.statistic:+.2f} (p = {rho.pvalue:.3g})"
                if rho is not None
                else "no rank correlation (constant values)"
            )
            best = done[int(np.argmax(y) if maximize else np.argmin(y))].params[k]
            lines.append(f"- `{k}` ({share}): {corr} with `{metric}`; the best trial has {best:.4g}.")
    return lines


def _knobs(
    study: optuna.Study, spec: StudySpec, done: list[FrozenTrial], importances: dict, out: Path
) -> tuple[list[str], list[Path]]:
    metric = spec.study.metrics[0]
    lines = ["## Dendritic: how p, its schedule and the trigger interval matter", ""]
    knobs = [k for k in KNOBS if done and all(k in t.params for t in done)]
    varied = [k for k in knobs if len({json.dumps(t.params[k]) for t in done}) > 1]
    if len(done) < 3 or not varied:
        return lines + [
            f"Not enough to say: {len(done)} completed trials, searched knobs among "
            f"{', '.join(KNOBS)}: {', '.join(varied) or 'none'}."
        ], []
    lines += [
        f"From {len(done)} completed search trials (`{metric}`, validation; a sampler's choices, not a "
        "designed experiment: read the correlations as descriptive).",
        "",
        *_knob_lines(done, varied, importances, metric, spec.study.directions[0] == "maximize"),
        "",
    ]
    pair = [k for k in ("plasticity.p", "plasticity.every_steps") if k in varied]
    wanted = [("Slice plot", plots_answers.plot_slice, varied, "plasticity_slice.png")]
    wanted += [("Contour plot", plots_answers.plot_contour, pair, "plasticity_contour.png")] if len(pair) == 2 else []
    figures = []
    for caption, draw, params, name in wanted:
        try:  # optuna's edge cases (e.g. too few distinct values) cost one figure, not the report
            path = draw(study, params, metric, out / name)
        except (ValueError, RuntimeError) as err:
            lines += [f"- {caption} not drawn: {err}", ""]
            continue
        figures.append(path)
        lines += [f"{caption}, `{path.name}`:", "", f"![{path.stem}]({path.name})", ""]
    return lines, figures


def dendritic_sections(inputs: ReportInputs) -> KindSections:
    """The confirmed best against the user's table (report and note), then the knobs."""
    lines, note = [], []
    if inputs.conf is not None:
        lines = _against_user(inputs.conf) + [""]
        note = [ln for ln in lines if ln.startswith("- ")]
    knob_lines, figures = _knobs(inputs.study, inputs.spec, inputs.done, inputs.importances, inputs.out)
    return KindSections(lines + knob_lines, figures, note)
