"""``python -m search.rerun STUDY.yaml --trial N``: run one stored trial again and compare.

Rebuilds the experiment config from the trial's stored ``config`` (and checks its hash against
the stored one), runs it through the core on ``--device`` in a temporary directory, with the
thread count the study's workers used, and prints stored and new metrics side by side, the
per-step history compared, and the stored project version and git commit against the current ones.

Exit status: 0 the rerun finished; 1 the rerun raised (the error and the stored reason are shown);
2 bad input (one line ``error: FILE: FIELD: MESSAGE`` on stderr): the study file, the storage,
a trial number not in the study, a trial with no stored config, ``--device cuda`` without a GPU.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from core import ConfigError, NullReporter, Result, RunContext, get_experiment
from core.config import config_hash, from_dict
from core.contract import PrintReporter
from core.replicates import run_replicates
from search.cli import add_storage, add_study_file, input_error
from search.report import short
from search.store import StorageUnavailable, open_existing_study, read_record
from search.studyfile import StudySpec, load_spec
from search.trial import ReplicateReporter, combine, provenance

__all__ = ["main", "find_trial", "stored_metrics", "rerun"]

# Numeric user attributes that describe the run rather than measure it.
_NOT_METRICS = {"seed", "wall_time_s", "requeued_from", "sampler_seed", "repeat_of"}


class _Recorder:
    """Keeps every reported step (to compare with the stored history) and passes it on."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.history = inner, []

    def check(self, step: int) -> None:
        """Nothing stops a rerun (search.trial.replicates.ReplicateReporter calls this at every seed's step)."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        self.history.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        self.inner.report(step, metrics)


def find_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` of the study, or a ``--trial`` error naming the numbers there are."""
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.number == number:
            return t
    have = f"0..{trials[-1].number}" if trials else "none yet"
    raise ConfigError("--trial", f"no trial {number} in study {study.study_name!r}; expected one of {have}")


def stored_metrics(trial: FrozenTrial) -> dict[str, float]:
    """The scalar metrics the objective stored as user attributes."""
    return {
        k: float(v)
        for k, v in read_record(trial).flat().items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_METRICS
    }


def _config(spec: StudySpec, trial: FrozenTrial) -> tuple[Any, str]:
    """The trial's config rebuilt from its stored dict, and a line on whether its hash matches."""
    record = read_record(trial)
    raw = record.config
    if not isinstance(raw, Mapping):
        reason = record.fail_reason or "no reason recorded"
        raise ConfigError(
            "--trial",
            f"trial {trial.number} ({trial.state.name}) has no stored config; it "
            f"ended before its config was built ({reason}); expected a trial that started",
        )
    try:
        config = from_dict(get_experiment(spec.kind).config_cls, raw, "config")
    except ConfigError as err:
        raise ConfigError(
            "--trial", f"trial {trial.number}'s stored config no longer fits experiment {spec.kind!r}: {err}"
        ) from None
    stored, now = record.config_hash, config_hash(config)
    if stored == now:
        return config, f"config hash {now}: matches the stored one"
    return config, (
        f"config hash {now}: DIFFERS from the stored {stored} (the config class changed since "
        "the trial ran, e.g. a new field with its default); the rerun uses the rebuilt config"
    )


def _or(value: Any, default: Any) -> Any:
    """A stored fact, or ``default`` where the trial stored none."""
    return default if value is None else value


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch  # only here: a CPU rerun should not wait for CUDA initialisation

        if not torch.cuda.is_available():
            raise ConfigError("--device", "cuda is not available on this machine; expected cpu")


def _diff(stored: float | None, new: float | None) -> str:
    if stored is None or new is None:
        return "-"
    if stored == new or (math.isnan(stored) and math.isnan(new)):
        return "0"
    return f"{new - stored:+.3g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join([lines[0], "-+-".join("-" * w for w in widths), *lines[1:]])


def _measured(name: str) -> bool:
    """A time measured during the run (``train_time_s``): a rerun cannot repeat it, only show it."""
    return name.endswith("_time_s")


def _history_line(stored: Sequence[Mapping[str, float]], new: Sequence[Mapping[str, float]]) -> str:
    if not stored:
        return f"history: none stored; the rerun reported {len(new)} steps"
    timed = any(_measured(k) for step in stored for k in step)
    stored, new = ([{k: v for k, v in step.items() if not _measured(k)} for step in h] for h in (stored, new))
    for old, now in zip(stored, new):
        if old != now:
            keys = [k for k in old if k in now and old[k] != now[k]] or sorted(set(old) ^ set(now))
            return (
                f"history: first difference at step {old.get('step')} ({keys[0]}: stored "
                f"{short(old.get(keys[0]))}, rerun {short(now.get(keys[0]))})"
            )
    if len(stored) != len(new):
        return (
            f"history: same over the first {min(len(stored), len(new))} steps; "
            f"stored {len(stored)} steps, rerun {len(new)}"
        )
    return f"history: identical over all {len(new)} steps" + (" (measured times aside)" if timed else "")


def _run(spec: StudySpec, trial: FrozenTrial, config: Any, recorder: _Recorder, ctx: RunContext) -> Result:
    """The trial's run again: its one seed, or every seed of its replicates (``study.replicates``),
    combined as the objective combined them (means, spreads, the mean per step in the history)."""
    seeds = (read_record(trial).replicates or {}).get("seeds")
    if not seeds or len(seeds) < 2:
        return get_experiment(spec.kind).run(config, recorder, ctx)
    print(f"replicates: seeds {', '.join(str(s) for s in seeds)}", flush=True)
    owner = ReplicateReporter(recorder, len(seeds))
    outcomes = run_replicates(spec.kind, config, seeds, ctx, [owner.seed(i) for i in range(len(seeds))])
    result = combine(outcomes, seeds, spec.study.metrics, owner.error)
    if isinstance(result, BaseException):
        raise result
    return result


def rerun(spec: StudySpec, trial: FrozenTrial, *, device: str = "cpu", quiet: bool = False) -> int:
    """Run ``trial`` again, print the comparison, return the exit status (0 ran, 1 raised)."""
    config, hash_line = _config(spec, trial)
    record, now = read_record(trial), provenance()
    print(
        f"trial {trial.number} of study {spec.study.name!r}: {trial.state.name}, kind {spec.kind}, "
        f"stored on {_or(record.device, '-')}"
    )
    print(hash_line)
    if trial.state.name != "COMPLETE":
        reason = _or(record.fail_reason, "no reason recorded")
        print(
            f"note: the stored trial is {trial.state.name} ({reason}); its stored metrics are incomplete, "
            "and the rerun is never pruned"
        )
    # The same thread count as the study's workers: torch's CPU results can depend on it.
    threads = max(1, int(spec.resources.cpus_per_trial))
    recorder = _Recorder(NullReporter() if quiet else PrintReporter())
    print(f"rerunning on {device} with {threads} thread(s) ...", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"rerun{trial.number}-") as workdir:
        ctx = RunContext(device=device, workdir=Path(workdir), threads=threads)
        try:
            result = _run(spec, trial, config, recorder, ctx)
        except Exception as err:  # the trial's own failure, reproduced or new: report it, do not crash
            print(f"rerun failed: {type(err).__name__}: {err}")
            print(f"stored fail_reason: {_or(record.fail_reason, '-')}")
            return 1
    old = stored_metrics(trial)
    new = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float)) and k not in _NOT_METRICS}
    names = [
        *(m for m in spec.study.metrics if m in old or m in new),
        *sorted((set(old) | set(new)) - set(spec.study.metrics)),
    ]
    rows = [
        [n, short(old[n]) if n in old else "-", short(new[n]) if n in new else "-", _diff(old.get(n), new.get(n))]
        for n in names
    ]
    print(_table(["metric", "stored", "rerun", "diff"], rows))
    print(_history_line(record.history, recorder.history))
    for key, label, stored in (("version", "version", record.version), ("git_commit", "git commit", record.git_commit)):
        same = "same" if stored == now[key] else "DIFFERENT: the code changed since the trial ran"
        print(f"{label}: stored {_or(stored, '-')}, current {now[key]} ({same})")
    print(f"device: stored {_or(record.device, '-')}, rerun {device}")
    wall = record.wall_time_s
    print(
        f"wall time: stored {short(float(wall)) if wall is not None else '-'} s, "
        f"rerun {short(time.monotonic() - started)} s"
    )
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Description and options of ``python -m search.rerun`` (also ``sparsesearch rerun``) on ``p``."""
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    add_study_file(p)
    p.add_argument("--trial", type=int, required=True, metavar="N", help="the trial number to rerun")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="torch device (default cpu)")
    add_storage(p)
    p.add_argument("--quiet", action="store_true", help="do not print a line per reported step")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.rerun")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        spec = load_spec(args.study_file, storage=args.storage)
        _check_device(args.device)
        trial = find_trial(open_existing_study(spec), args.trial)
        _config(spec, trial)  # a trial without a usable config is bad input: say so before running
    except (ConfigError, StorageUnavailable) as err:
        return input_error(args.study_file, err)
    return rerun(spec, trial, device=args.device, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
