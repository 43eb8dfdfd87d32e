"""What a trial stores about itself (its user attributes), and the one reader of them.

Every scalar is a user attribute of its own, so that optuna-dashboard's trial table and
``study.trials_dataframe()`` (columns ``user_attrs_<key>``) show, sort and filter by it; a
structured value is one JSON attribute. A trial writes two groups, each in one transaction
(:func:`search.store.studies.set_user_attrs`; one upsert per attribute, one commit per group):

* when it starts (:func:`write_run`): ``config`` (the full resolved config, JSON) and, flat,
  ``config_hash``, ``seed`` (with ``study.replicates``: the first of its seeds), ``device``,
  ``worker``, ``launch_id``, ``sampler_seed``, ``version`` and ``git_commit``;
* when it ends (:func:`write_result`): flat, every scalar metric the run returned (with
  ``study.replicates``: the means over seeds, the objective's ``<metric>_std`` and
  ``<metric>_sem``, ``n_seeds``), ``wall_time_s`` and, when they apply, ``fail_reason``,
  ``artifact_error`` and ``repeat_of``; as JSON, ``history`` (every reported step) and
  ``replicates`` (the seeds and every metric per seed).

A launcher that fails a leftover trial adds ``fail_reason``; a requeued trial has ``requeued_from``.

Studies have been written with two earlier layouts: one attribute per value, each its own commit
(what this layout is again, less the commits), and, in between, two JSON objects ``run`` (the
start group) and ``result`` (the end group) with flat copies of ``config_hash``, ``seed`` and a
replicated objective's ``<metric>_std``. :func:`trial_record` reads all three alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from search.store.studies import set_user_attrs

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["RESULT", "RUN", "trial_record", "write_result", "write_run"]

# The JSON objects of the layout between the flat ones (read, no longer written).
RUN, RESULT = "run", "result"


def trial_record(trial: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """Everything the trial stored, as one flat dict, whichever layout wrote it (see the module's
    docstring). Flat attributes win over the ``run``/``result`` objects: a launcher's later
    ``fail_reason`` is the last word."""
    attrs = trial.user_attrs
    out: dict[str, Any] = {}
    for key in (RUN, RESULT):
        part = attrs.get(key)
        if isinstance(part, Mapping):
            out.update(part)
    out.update((k, v) for k, v in attrs.items() if k not in (RUN, RESULT) or not isinstance(v, Mapping))
    return out


def write_run(storage: optuna.storages.BaseStorage, tid: int, run: Mapping[str, Any]) -> None:
    """What trial ``tid`` runs, in one transaction: ``config`` (JSON) and the run facts, flat."""
    set_user_attrs(storage, tid, run)


def write_result(storage: optuna.storages.BaseStorage, tid: int, result: Mapping[str, Any]) -> None:
    """How trial ``tid`` ended, in one transaction: every scalar flat, ``history`` and
    ``replicates`` as JSON."""
    set_user_attrs(storage, tid, result)
