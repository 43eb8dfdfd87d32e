"""``python -m search.report STUDY.yaml``: the morning report of a study, as Markdown plus PNG plots.

Reads the study from its storage (never creates it), writes ``report.md`` and the plots to
``--out`` (default ``runs/<study>/report/``) and uploads them as study artifacts so that
optuna-dashboard shows them, with the summary as the study's note (search.report_answers:
confirmed on test, the kind's questions). A later report replaces the earlier one's artifacts.

Exit status: 0 written; 2 bad input (one line ``error: FILE: FIELD: MESSAGE`` on stderr, nothing
created): a missing or invalid study file, an unreachable storage, a study not in the storage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

from core.errors import ConfigError
from search import plots, report_answers
from search.cli import add_storage, add_study_file, input_error
from search.progress import describe_trial, short
from search.records import trial_record
from search.spec import StudySpec, load_spec
from search.storage import StorageUnavailable, artifact_store, public_url
from search.studies import artifact_metas, open_existing_study, spec_storage

__all__ = ["main", "write_report", "open_existing_study", "report_dir", "STEP_UNITS"]

STEP_UNITS = {"imp": "IMP level", "dendritic": "epoch"}  # what one reported step is, per experiment kind
_BEST_ROWS = 10
_FRONT_ROWS = 50
_LISTED_PROBLEMS = 50
_EVALUATOR = "PED-ANOVA, Optuna's default"


def report_dir(spec: StudySpec) -> Path:
    """The default output directory, ``runs/<study>/report``."""
    return Path("runs") / spec.study.name / "report"


def _cell(value: object) -> str:
    """A Markdown table cell: short numbers, no pipes or newlines to break the row."""
    return short(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _params(trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameters present in every given trial, in first-seen order."""
    names = list(trials[0].params) if trials else []
    return [n for n in names if all(n in t.params for t in trials)]


def _trial_rows(trials: Sequence[FrozenTrial], metrics: Sequence[str], params: Sequence[str]) -> list[str]:
    rows = [
        [i + 1, t.number, *t.values, *(t.params.get(p, "-") for p in params), trial_record(t).get("wall_time_s", "-")]
        for i, t in enumerate(trials)
    ]
    return _table(["#", "trial", *metrics, *params, "wall time (s)"], rows)


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
        *_trial_rows(shown, metrics, _params(shown)),
    ]


def _best_section(spec: StudySpec, done: list[FrozenTrial], front: list[int]) -> list[str]:
    metrics, dirs = spec.study.metrics, spec.study.directions
    if not done:
        return ["## Best trials", "", "No completed trial yet, so there is no best value to show."]
    if spec.multi_objective:
        return _front_section(spec, done, front)
    ranked = sorted(done, key=lambda t: t.value, reverse=dirs[0] == "maximize")[:_BEST_ROWS]
    best, record = ranked[0], trial_record(ranked[0])
    scalars = {
        k: v
        for k, v in sorted(record.items())
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed", "wall_time_s")
    }
    attrs = ("config_hash", "seed", "version", "git_commit", "device")
    return [
        f"## Best trials (top {len(ranked)} by `{metrics[0]}`, {dirs[0]})",
        "",
        *_trial_rows(ranked, metrics, _params(ranked)),
        "",
        f"### Best trial {best.number}",
        "",
        ", ".join(f"{a} `{record.get(a, '-')}`" for a in attrs),
        "",
        f"Rerun it: `python -m search.rerun {spec.source} --trial {best.number}`",
        "",
        *(_table(["metric", "value"], list(scalars.items())) if scalars else ["No metrics stored."]),
    ]


def _importances(study: optuna.Study, spec: StudySpec, done: list[FrozenTrial]) -> tuple[dict, list[str]]:
    """Importances per objective, and one-line notes for what could not be computed."""
    if len(done) < 2:
        return {}, [f"Importances need at least 2 completed trials; this study has {len(done)}."]
    params = _params(done)
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


def _importance_section(importances: dict, notes: list[str], n_done: int) -> list[str]:
    lines = ["## Parameter importances", ""]
    if importances:
        first = next(iter(importances.values()))
        params = sorted({p for imp in importances.values() for p in imp}, key=lambda p: -first.get(p, 0.0))
        lines += [
            f"From {n_done} completed trials ({_EVALUATOR}: how far each parameter's values in the "
            "best trials stray from its values in all of them; each column sums to 1)"
            + (". With this few trials, read them as rough." if n_done < 20 else "."),
            "",
        ]
        lines += _table(
            ["parameter", *(f"for {m}" for m in importances)],
            [[p, *(imp.get(p, 0.0) for imp in importances.values())] for p in params],
        )
    return lines + ([""] if importances and notes else []) + [f"- {n}" for n in notes]


def _problem_section(trials: Sequence[FrozenTrial]) -> list[str]:
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


def _curve_metric(spec: StudySpec, trials: Sequence[FrozenTrial]) -> str | None:
    """The objective if trials report it per step, else the first metric their histories carry."""
    if any(plots.curve_of(t, spec.study.metrics[0]) for t in trials):
        return spec.study.metrics[0]
    for t in trials:
        for h in trial_record(t).get("history") or []:
            return next((k for k in h if k != "step"), None)
    return None


def _draw(
    spec: StudySpec, trials: list[FrozenTrial], done: list[FrozenTrial], front: list[int], importances: dict, out: Path
) -> tuple[list[tuple[str, Path]], list[str]]:
    """Every plot there is data for, as (caption, path), and one line for each skipped one."""
    metrics, dirs = spec.study.metrics, spec.study.directions
    drawn, skipped = [], []
    if done:
        drawn += [
            ("Optimisation history", plots.plot_history(done, metrics, dirs, front, out / "optimization_history.png")),
            (
                "Parallel coordinates",
                plots.plot_parallel(done, _params(done), metrics, dirs, out / "parallel_coordinates.png"),
            ),
        ]
        if spec.multi_objective:
            drawn.append(("Pareto front", plots.plot_pareto(done, front, metrics, dirs, out / "pareto_front.png")))
    else:
        skipped.append(
            "optimisation history, parallel coordinates"
            + (", Pareto front" if spec.multi_objective else "")
            + ": no completed trial"
        )
    if importances:
        drawn.append(
            ("Parameter importances", plots.plot_importances(importances, _EVALUATOR, out / "param_importances.png"))
        )
    else:
        skipped.append("parameter importances: none computed (see above)")
    curve = _curve_metric(spec, trials)
    if curve:
        caption = "Learning curves" + (
            "" if curve == metrics[0] else f" of `{curve}` (trials do not report `{metrics[0]}` per step)"
        )
        unit = STEP_UNITS.get(spec.kind, "step")
        drawn.append((caption, plots.plot_curves(trials, curve, unit, out / "intermediate_values.png")))
    else:
        skipped.append("learning curves: no trial reported intermediate values")
    return drawn, skipped


def _upload(study: optuna.Study, spec: StudySpec, files: Sequence[Path]) -> None:
    """Upload as study artifacts; a file whose name was uploaded before replaces that artifact.

    The report on disk is what matters: a full or unwritable artifact store costs only the copy
    in the dashboard, said in one line."""
    try:
        _upload_files(study, spec, files)
    except OSError as err:
        print(
            f"warning: report not uploaded to the artifact store {spec.study.artifacts}: {err.strerror or err}",
            file=sys.stderr,
        )


def _upload_files(study: optuna.Study, spec: StudySpec, files: Sequence[Path]) -> None:
    store = artifact_store(spec.study.artifacts)
    known = {m["filename"]: m["artifact_id"] for m in artifact_metas(spec_storage(spec), study)}
    for path in files:
        if path.name in known:
            with path.open("rb") as f:
                store.write(known[path.name], f)
        else:
            upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)


def _header(spec: StudySpec) -> list[str]:
    study = spec.study
    objective = ", ".join(f"{d} `{m}`" for m, d in zip(study.metrics, study.directions))
    return [
        f"# Study report: {study.name}",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from `{spec.source}`; "
        f"storage `{public_url(study.storage)}`.",
        "",
        f"Experiment `{spec.kind}`; objective: {objective}; sampler `{study.sampler.get('name')}`, "
        f"pruner `{study.pruner.get('name')}`; budget {study.n_trials or '-'} finished trials.",
        "",
    ]


def write_report(study: optuna.Study, spec: StudySpec, out_dir: str | Path | None = None) -> Path:
    """Write ``report.md`` and its PNG plots to ``out_dir`` (default :func:`report_dir`), upload them
    as study artifacts, save the summary as the study's dashboard note; return ``report.md``'s path."""
    out = Path(out_dir) if out_dir is not None else report_dir(spec)
    out.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    front = [t.number for t in study.best_trials] if spec.multi_objective and done else []
    counts = Counter(t.state.name for t in trials)
    importances, notes = _importances(study, spec, done)
    drawn, skipped = _draw(spec, trials, done, front, importances, out)
    answers = report_answers.answers(study, spec, done, importances, out)  # issue 12's questions
    by_state = [[s.name, counts[s.name]] for s in TrialState] + [["total", len(trials)]]
    lines = [
        *_header(spec),
        *answers.lines,
        "## Trials by state",
        "",
        *_table(["state", "trials"], by_state),
        "",
        *_best_section(spec, done, front),
        "",
        *_importance_section(importances, notes, len(done)),
        *_problem_section(trials),
        "",
        "## Plots",
        "",
    ]
    lines += [f"{caption}, `{path.name}`:\n\n![{path.stem}]({path.name})\n" for caption, path in drawn]
    lines += [f"- Not drawn: {s}." for s in skipped]
    report = out / "report.md"
    report.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    _upload(study, spec, [report, *(path for _, path in drawn), *answers.figures])
    report_answers.save_summary_note(study, answers.note)
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Description and options of ``python -m search.report`` (also ``sparsesearch report``) on ``p``."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_study_file(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default runs/<study>/report)")
    add_storage(p)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.report")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        spec = load_spec(args.study_file, storage=args.storage)
        out = Path(args.out) if args.out else report_dir(spec)
        if out.exists() and not out.is_dir():
            raise ConfigError("--out", f"{out} exists and is not a directory")
        study = open_existing_study(spec)
    except (ConfigError, StorageUnavailable) as err:
        return input_error(args.study_file, err)
    path = write_report(study, spec, out)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
