"""``python -m search.report STUDY.yaml``: the morning report of a study, as Markdown plus PNG plots.

Reads the study from its storage (never creates it), writes ``report.md`` and the plots to
``--out`` (default ``runs/<study>/report/``) and uploads them as study artifacts so that
optuna-dashboard shows them, with the summary as the study's note (search.report.answers:
confirmed on test, the kind's questions). A later report replaces the earlier one's artifacts.

Exit status: 0 written; 2 bad input (one line ``error: FILE: FIELD: MESSAGE`` on stderr, nothing
created): a missing or invalid study file, an unreachable storage, a study not in the storage.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

from core import get_experiment
from core.errors import ConfigError
from search.cli import add_storage, add_study_file, input_error
from search.report import answers as report_answers
from search.report import plots
from search.report.tables import (
    EVALUATOR,
    best_section,
    importance_section,
    importances_of,
    params_of,
    problem_section,
    table,
)
from search.store import (
    StorageUnavailable,
    artifact_metas,
    artifact_store,
    open_existing_study,
    public_url,
    read_record,
    spec_storage,
)
from search.studyfile import StudySpec, load_spec

__all__ = ["add_arguments", "main", "report_dir", "run", "write_report"]


def report_dir(spec: StudySpec) -> Path:
    """The default output directory, ``runs/<study>/report``."""
    return Path("runs") / spec.study.name / "report"


def _curve_metric(spec: StudySpec, trials: Sequence[FrozenTrial]) -> str | None:
    """The objective if trials report it per step, else the first metric their histories carry."""
    if any(plots.curve_of(t, spec.study.metrics[0]) for t in trials):
        return spec.study.metrics[0]
    for t in trials:
        for h in read_record(t).history:
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
                plots.plot_parallel(done, params_of(done), metrics, dirs, out / "parallel_coordinates.png"),
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
            ("Parameter importances", plots.plot_importances(importances, EVALUATOR, out / "param_importances.png"))
        )
    else:
        skipped.append("parameter importances: none computed (see above)")
    curve = _curve_metric(spec, trials)
    if curve:
        caption = "Learning curves" + (
            "" if curve == metrics[0] else f" of `{curve}` (trials do not report `{metrics[0]}` per step)"
        )
        unit = get_experiment(spec.kind).step_unit
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
    importances, notes = importances_of(study, spec, done)
    drawn, skipped = _draw(spec, trials, done, front, importances, out)
    answers = report_answers.answers(study, spec, done, importances, out)
    by_state = [[s.name, counts[s.name]] for s in TrialState] + [["total", len(trials)]]
    lines = [
        *_header(spec),
        *answers.lines,
        "## Trials by state",
        "",
        *table(["state", "trials"], by_state),
        "",
        *best_section(spec, done, front),
        "",
        *importance_section(importances, notes, len(done)),
        *problem_section(trials),
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
