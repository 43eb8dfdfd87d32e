"""What a trial stores about itself (its user attributes), in as few writes as Optuna allows.

Optuna commits each user attribute on its own, so a trial writes four beside Optuna's own rows
(its parameters, intermediate values, state and values):

* when it starts, ``run``: one JSON object with the full config and its hash, the seed, device,
  worker, launch id, sampler seed, project version and git commit; and two flat copies that a
  dashboard user sorts and filters by: ``config_hash`` and ``seed`` (a trial of seed replicates
  has no single seed: its seeds are in ``replicates``);
* when it ends, ``result``: one JSON object with every scalar metric, the wall time, the history,
  the per-seed ``replicates``, and, when they apply, ``fail_reason``, ``artifact_error`` and
  ``repeat_of``; a trial of seed replicates adds its objective's spread, ``<metric>_std``, flat.

Studies written before this layout stored every one of those as its own flat attribute.
:func:`trial_record` reads both: it is the one reader of trial attributes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

__all__ = ["RESULT", "RUN", "trial_record", "write_result", "write_run"]

RUN, RESULT = "run", "result"
# benchmarks/bench_service.py sets this to "flat" to measure the previous layout (one write per value).
LAYOUT_ENV = "SPARSESEARCH_RECORD_LAYOUT"


def _flat(trial: optuna.Trial, values: Mapping[str, Any]) -> bool:
    if os.environ.get(LAYOUT_ENV) != "flat":
        return False
    for key, value in values.items():
        trial.set_user_attr(key, value)
    return True


def trial_record(trial: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """Everything the trial stored, as one flat dict, whichever layout wrote it: the old one (one
    attribute per value) or the current one (``run`` and ``result`` objects, a few flat copies).
    Flat attributes win: a launcher's later ``fail_reason`` is the last word."""
    attrs = trial.user_attrs
    out: dict[str, Any] = {}
    for key in (RUN, RESULT):
        part = attrs.get(key)
        if isinstance(part, Mapping):
            out.update(part)
    out.update((k, v) for k, v in attrs.items() if k not in (RUN, RESULT) or not isinstance(v, Mapping))
    return out


def write_run(trial: optuna.Trial, run: Mapping[str, Any], *, replicated: bool) -> None:
    """What the trial runs (three writes): ``run``, and ``config_hash``, ``seed`` flat."""
    if _flat(trial, run):
        return
    trial.set_user_attr(RUN, dict(run))
    trial.set_user_attr("config_hash", run["config_hash"])
    if not replicated and run.get("seed") is not None:
        trial.set_user_attr("seed", run["seed"])


def write_result(trial: optuna.Trial, result: Mapping[str, Any], spread: str | None = None) -> None:
    """How the trial ended (one write, two with a replicated objective's ``spread`` key): ``result``."""
    if _flat(trial, result):
        return
    trial.set_user_attr(RESULT, dict(result))
    if spread is not None and isinstance(result.get(spread), (int, float)):
        trial.set_user_attr(spread, result[spread])
