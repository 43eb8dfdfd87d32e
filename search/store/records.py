"""What a trial stores about itself (its user attributes), and the one reader of them.

Every scalar is a user attribute of its own, so that optuna-dashboard's trial table and
``study.trials_dataframe()`` (columns ``user_attrs_<key>``) show, sort and filter by it; a
structured value is one JSON attribute. A trial writes two groups, each in one transaction
(:func:`search.store.studies.set_user_attrs`; one upsert per attribute, one commit per group):

* when it starts (:func:`write_run`): ``config`` (the full resolved config, JSON) and, flat,
  ``config_hash``, ``seed`` (with ``study.replicates``: the first of its seeds), ``device``
  (and on a GPU ``device_name``), ``worker``, ``launch_id``, ``sampler_seed``, ``version`` and ``git_commit``;
* when it ends (:func:`write_result`): flat, every scalar metric the run returned (with
  ``study.replicates``: the means over seeds, the objective's ``<metric>_std`` and
  ``<metric>_sem``, ``n_seeds``), ``wall_time_s`` and, when they apply, ``fail_reason``,
  ``artifact_error`` and ``repeat_of``; as JSON, ``history`` (every reported step),
  ``replicates`` (the seeds and every metric per seed) and, for a kind whose runs return
  ``Result.extra["run_data"]`` (imp: the cut per level, each hidden neuron's state and bias per
  level), ``run_data``: a list with each seed's run data.

A launcher that fails a leftover trial adds ``fail_reason``; a requeued trial has ``requeued_from``.
A confirmation's trial (``search.confirm.runs``) stores ``candidate`` (its label),
``search_trial`` (the search trial it confirms, or None), ``params``, ``candidate_hash``,
``seed``, ``config``, ``config_hash``, ``history``, its metrics, ``run_data`` (a list of one) and,
when it failed, ``fail_reason``.

Studies have been written with two earlier layouts: one attribute per value, each its own commit
(what this layout is again, less the commits), and, in between, two JSON objects ``run`` (the
start group) and ``result`` (the end group) with flat copies of ``config_hash``, ``seed`` and a
replicated objective's ``<metric>_std``. :func:`read_record` reads all three alike, into one
:class:`TrialRecord`: every fact named above in a field of its own, every other number in
``metrics`` (the run's metrics, ``<metric>_std``, ``<metric>_sem``) and anything else in ``extra``,
so nothing stored is dropped; :meth:`TrialRecord.flat` gives it back as one flat dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from search.store.studies import set_user_attrs

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["RESULT", "RUN", "TrialRecord", "read_record", "write_result", "write_run"]

# The JSON objects of the layout between the flat ones (read, no longer written).
RUN, RESULT = "run", "result"


def _freeze(value: Any) -> Any:
    """``value`` with every mapping read-only and every list a tuple, all the way down."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """``value`` as JSON gives it back: dicts and lists again (the inverse of :func:`_freeze`)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """Everything one trial stored, read-only (mappings are read-only views, lists are tuples).

    A fact the trial did not store is None (``history``: empty), so a trial that stored nothing
    reads as an empty record. Build one with :func:`read_record`."""

    # The run facts, written when the trial starts.
    config: Mapping[str, Any] | None = None
    config_hash: str | None = None
    seed: int | None = None
    device: str | None = None  # "cpu" or "cuda:0" (Ray's CUDA_VISIBLE_DEVICES: the worker's GPU)
    device_name: str | None = None  # the GPU's name, e.g. "NVIDIA H100 80GB HBM3" (GPU trials only)
    worker: str | None = None  # "host:pid" of the worker process
    launch_id: str | None = None
    sampler_seed: int | None = None
    version: str | None = None
    git_commit: str | None = None
    # The end facts, written when it ends (or by a launcher, a requeue).
    wall_time_s: float | None = None
    fail_reason: str | None = None
    artifact_error: str | None = None
    repeat_of: int | None = None
    requeued_from: int | None = None
    history: tuple[Mapping[str, float], ...] = ()
    replicates: Mapping[str, Any] | None = None
    run_data: tuple[Mapping[str, Any] | None, ...] = ()  # each seed's run data, in seed order
    n_seeds: float | None = None
    # A confirmation trial's own (search.confirm.runs).
    candidate: str | None = None
    candidate_hash: str | None = None
    params: Mapping[str, Any] | None = None
    search_trial: int | None = None
    # Every other number (the metrics, <metric>_std, <metric>_sem), and everything else.
    metrics: Mapping[str, float] = dataclasses.field(default_factory=_empty)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=_empty)
    # The names as read, in order, a fact stored as None included: what flat() gives back.
    stored: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        """Freeze what was passed in: a record built from plain dicts and lists is read-only too."""
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))

    def flat(self) -> dict[str, Any]:
        """The record as one flat dict of plain values, as the trial's attributes (all layouts
        merged) hold them: what a repeat copies and ``search.rerun`` compares."""
        return {k: _thaw(self._value(k)) for k in self._names()}

    def _names(self) -> tuple[str, ...]:
        """The names read, or for a record built by hand: every fact set, the metrics, the rest."""
        if self.stored:
            return self.stored
        facts = (k for k in _FACTS if getattr(self, k) is not None and getattr(self, k) != ())
        return (*facts, *self.metrics, *self.extra)

    def _value(self, name: str) -> Any:
        if name in self.metrics:
            return self.metrics[name]
        if name in self.extra:
            return self.extra[name]
        return getattr(self, name)


# The names that are fields of their own, in the fields' order.
_FACTS = tuple(f.name for f in dataclasses.fields(TrialRecord) if f.name not in ("metrics", "extra", "stored"))


def _merged(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes as one flat dict, whichever layout wrote them: flat ones win over the
    ``run``/``result`` objects (a launcher's later ``fail_reason`` is the last word)."""
    out: dict[str, Any] = {}
    for key in (RUN, RESULT):
        part = attrs.get(key)
        if isinstance(part, Mapping):
            out.update(part)
    out.update((k, v) for k, v in attrs.items() if k not in (RUN, RESULT) or not isinstance(v, Mapping))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_record(trial: FrozenTrial | optuna.Trial) -> TrialRecord:
    """Everything the trial stored, as one :class:`TrialRecord`, whichever layout wrote it (see
    the module's docstring): each fact in its field, every other number in ``metrics``, the rest
    in ``extra``."""
    merged = _merged(trial.user_attrs)
    facts = {k: v for k, v in merged.items() if k in _FACTS}
    rest = {k: v for k, v in merged.items() if k not in _FACTS}
    return TrialRecord(
        **facts,
        metrics={k: v for k, v in rest.items() if _is_number(v)},
        extra={k: v for k, v in rest.items() if not _is_number(v)},
        stored=tuple(merged),
    )


def write_run(storage: optuna.storages.BaseStorage, tid: int, run: Mapping[str, Any]) -> None:
    """What trial ``tid`` runs, in one transaction: ``config`` (JSON) and the run facts, flat."""
    set_user_attrs(storage, tid, run)


def write_result(storage: optuna.storages.BaseStorage, tid: int, result: Mapping[str, Any]) -> None:
    """How trial ``tid`` ended, in one transaction: every scalar flat, ``history`` and
    ``replicates`` as JSON."""
    set_user_attrs(storage, tid, result)
