"""``python -m search.confirm STUDY.yaml``: re-run the best configurations on fresh seeds, on test.

A search chooses on validation with the seeds it searched on; its best value is biased upwards
(the winner of many noisy comparisons). Confirmation is the answer a researcher can publish:
the ``--top`` K best configurations of the study (distinct configurations, by the study's
objective; equal values by ``confirm.tie_break`` when the study file names one, else by trial
number) and the study's first enqueued configuration (the user's baseline) each run on
``--seeds`` N seeds that no trial of the search used, with the study file's ``confirm.overrides``
(e.g. ``data.val_size: 0``: train on all training images), plus the labelled variants of the
baseline in ``confirm.also`` (e.g. the baseline without resampling), judged on ``confirm.metric`` (by
default the study's ``val_X`` metric as ``test_X``). This is the only place the test set decides
anything.

Every (configuration, seed) run is a trial of the linked study ``<name>-confirm`` in the same
storage (the dashboard shows it), so a killed confirmation, run again, trains only what did not
finish. The table (mean ± standard deviation, 95 % interval, difference to the baseline and its
significance) is printed and stored on that study as the ``confirmation`` user attribute, which
``python -m search.report`` renders. One confirmation of a study runs at a time (a file lock).

Exit status: 0 confirmed; 1 some runs failed (run it again to retry them); 2 bad input (one line
``error: FILE: FIELD: MESSAGE``, nothing created): a study file without a test metric to
confirm on, an unknown study, a study with no finished trial, ``--top``/``--seeds`` below 1/2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from core import ConfigError, get_experiment
from core.config import config_hash, from_dict
from search.cli import add_storage, add_study_file, input_error
from search.confirm.runs import Candidate, run_pending
from search.confirm.stats import confirmation_table, format_table
from search.store import StorageUnavailable, load_or_create, open_existing_study, open_storage, read_record
from search.studyfile import SpecError, StudySpec, load_spec
from search.trial import build_config, claim

__all__ = ["main", "confirm", "candidates", "fresh_seeds", "confirm_study_name"]

SEED_BLOCK = 1000  # confirmation seeds start at the next multiple of this above every search seed


def confirm_study_name(spec: StudySpec) -> str:
    return f"{spec.study.name}-confirm"


def _search_seeds(trials: Sequence[FrozenTrial]) -> set[int]:
    """Every seed a trial of the search trained with (its replicates' seeds, or its one seed)."""
    used: set[int] = set()
    for record in map(read_record, trials):
        rep = record.replicates
        if isinstance(rep, Mapping) and rep.get("seeds"):
            used.update(int(s) for s in rep["seeds"])
        elif isinstance(record.seed, int):
            used.add(int(record.seed))
    return used


def fresh_seeds(used: set[int], n: int, start: int | None = None) -> list[int]:
    """``n`` seeds from ``start`` (default: the next multiple of SEED_BLOCK above every used seed)."""
    if start is None:
        start = (max(used, default=0) // SEED_BLOCK + 1) * SEED_BLOCK
    seeds = list(range(start, start + n))
    assert not used & set(seeds), "confirmation seeds must be fresh"
    return seeds


def _tie_key(spec: StudySpec, trial: FrozenTrial) -> tuple[float, ...]:
    """``confirm.tie_break``'s order for ``trial`` (best first; a trial without the metric last)."""
    metric = spec.confirm.tie_break if spec.confirm else None
    if metric is None:
        return ()
    value = trial.user_attrs.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return (math.inf,)
    direction = spec.confirm.tie_break_direction or spec.study.directions[0]
    return (-float(value) if direction == "maximize" else float(value),)


def candidates(spec: StudySpec, trials: Sequence[FrozenTrial], top: int) -> list[Candidate]:
    """The baseline (first enqueued configuration), the ``top`` best distinct configurations, and the
    study file's ``confirm.also`` configurations (each a change of the baseline)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    sign = -1.0 if spec.study.directions[0] == "maximize" else 1.0
    done.sort(key=lambda t: (sign * t.values[0], *_tie_key(spec, t), t.number))
    overrides = spec.confirm.overrides if spec.confirm else {}
    out: list[Candidate] = []
    if spec.study.enqueue:
        base = build_config(spec, spec.study.enqueue[0])
        twin = next((t for t in done if read_record(t).config_hash == config_hash(base)), None)
        out.append(
            Candidate(
                "baseline",
                twin.number if twin else None,
                dict(spec.study.enqueue[0]),
                twin.values[0] if twin else None,
                base,
                overrides,
            )
        )
    seen = {c.search_hash for c in out}
    for t in done:
        if len(out) - bool(spec.study.enqueue) >= top:
            break
        record = read_record(t)
        if record.config_hash is None or record.config_hash in seen:
            continue
        seen.add(record.config_hash)
        rank = len(out) + 1 - bool(spec.study.enqueue)
        # the trial's stored config, not one rebuilt from t.params: Optuna stores a categorical
        # choice such as model.widths [64] encoded ('[64]'), which the objective decoded
        config = from_dict(get_experiment(spec.kind).config_cls, record.config, "config")
        out.append(Candidate(f"best {rank}", t.number, dict(t.params), t.values[0], config, overrides))
    base_params = dict(spec.study.enqueue[0]) if spec.study.enqueue else {}
    for label, values in (spec.confirm.also if spec.confirm else {}).items():  # e.g. the baseline without resampling
        params = {**base_params, **values}
        out.append(Candidate(label, None, params, None, build_config(spec, params), overrides))
    return out


def _open_confirm_study(spec: StudySpec, storage, metric: str) -> optuna.Study:
    return load_or_create(storage, confirm_study_name(spec), spec.study.directions[0], metric)


def confirm(spec: StudySpec, top: int, n_seeds: int, *, device: str = "cpu", threads: int | None = 1, out=None) -> int:
    """Confirm the study's best configurations; print the table; return the exit status (0 or 1)."""
    res = spec.resources
    storage = open_storage(spec.study.storage, heartbeat_interval=res.heartbeat_interval, max_retries=res.max_retries)
    parent = open_existing_study(spec, storage)
    if spec.multi_objective:
        raise SpecError("study.directions", "confirmation compares one objective; expected a single direction")
    if spec.confirm is None:
        raise SpecError(
            "confirm.metric",
            f"expected the test metric to confirm {spec.study.metrics[0]!r} on "
            "(a study metric named val_X confirms on test_X by default)",
        )
    trials = parent.get_trials(deepcopy=False)
    picked = candidates(spec, trials, top)
    if not any(c.search_trial is not None for c in picked):
        raise SpecError("study.name", f"study {spec.study.name!r} has no finished trial to confirm")
    metric = spec.confirm.metric
    work = Path(spec.study.artifacts).parent / "work"
    work.mkdir(parents=True, exist_ok=True)

    def busy() -> None:
        raise SpecError("study.name", f"another confirmation of {spec.study.name!r} is running")

    with claim(work / f"{confirm_study_name(spec)}.lock", busy):
        study = _open_confirm_study(spec, storage, metric)
        start = study.user_attrs.get("seed_start")
        seeds = fresh_seeds(_search_seeds(trials), n_seeds, start)
        if start is None:
            study.set_user_attr("seed_start", seeds[0])
            study.set_user_attr("confirms", spec.study.name)
        failed = run_pending(study, storage, spec, picked, seeds, metric, work, device=device, threads=threads)
        table = confirmation_table(study, picked, seeds, metric, spec.study.directions[0])
        table["overrides"] = {k: v for k, v in (spec.confirm.overrides or {}).items()}
        study.set_user_attr("confirmation", table)
        parent.set_user_attr("confirmation_study", study.study_name)
    print(format_table(spec, table), file=out or sys.stdout)
    if failed:
        print(f"{failed} confirmation run(s) failed; run the command again to retry them", file=sys.stderr)
    return 1 if failed else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Description and options of ``python -m search.confirm`` (also ``sparsesearch confirm``) on ``p``."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_study_file(p, "studies/resample_overnight.yaml")
    p.add_argument("--top", type=int, help="how many of the best configurations (default confirm.top, 3)")
    p.add_argument("--seeds", type=int, help="fresh seeds per configuration (default confirm.seeds, 5)")
    add_storage(p)
    p.add_argument("--device", default="cpu", help="torch device for the runs (default cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch CPU threads for the runs (default: every core; a confirmation runs alone)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.confirm")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        spec = load_spec(args.study_file, storage=args.storage)
        defaults = spec.confirm
        top = args.top if args.top is not None else (defaults.top if defaults else 3)
        seeds = args.seeds if args.seeds is not None else (defaults.seeds if defaults else 5)
        if top < 1:
            raise ConfigError("--top", f"expected an integer >= 1, got {top}")
        if seeds < 2:
            raise ConfigError("--seeds", f"expected an integer >= 2 (a spread needs two seeds), got {seeds}")
        if args.threads < 1:
            raise ConfigError("--threads", f"expected an integer >= 1, got {args.threads}")
        return confirm(spec, top, seeds, device=args.device, threads=args.threads)
    except (ConfigError, StorageUnavailable) as err:
        return input_error(args.study_file, err)
