"""The contract between the torch core and whoever drives it (a CLI run or a search trial).

An experiment kind is registered once with :data:`EXPERIMENTS` as an :class:`Experiment`:
its frozen config class and a ``run(config, reporter, context) -> Result`` function.
The driver passes a :class:`Reporter`; the experiment calls ``reporter.report(step, metrics)``
after every epoch / level. A search adapter may raise from ``report`` to stop the run early
(Optuna pruning); the core never catches that, it simply unwinds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.registry import Registry

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "Feed",
    "register_population",
    "PopulationRun",
    "Reporter",
    "NullReporter",
    "PrintReporter",
    "Result",
    "RunContext",
]


class Reporter(Protocol):
    """Receives intermediate metrics; ``step`` increases strictly (epoch, IMP level, ...)."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None: ...


class NullReporter:
    """Discards everything (tests, benchmarks)."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        pass


class PrintReporter:
    """One line per step, for ``python -m core.run``."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
        print(f"step {step:4d}  {shown}", flush=True)


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Where and how to run: the torch device, a directory for files, CPU threads."""

    device: str = "cpu"
    workdir: Path = Path("runs/scratch")
    threads: int | None = None
    data_dir: Path | None = None


@dataclass(frozen=True, kw_only=True)
class Result:
    """What a run produced: final scalar ``metrics``, named files in ``artifacts``."""

    metrics: Mapping[str, float]
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Feed(Protocol):
    """More members for a population that has room, and each member's outcome as it ends
    (``run_population(..., feed=feed)`` of a kind registered with ``refills=True``).

    ``more(active)`` is called at every epoch boundary with the number of members training on;
    it returns the (config, reporter) pairs that join now (their population key must be the
    population's), numbered after the initial configs in the order they are returned.
    ``done(index, outcome)`` is called once per member, initial or joined, as soon as it ends
    (a Result or the exception that stopped it), before the next member joins.
    """

    def more(self, active: int) -> Sequence[tuple[Any, Reporter]]: ...

    def done(self, index: int, outcome: Result | BaseException) -> None: ...


PopulationRun = Callable[..., list["Result | BaseException"]]  # (configs, reporters, ctx, *, feed=None)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment kind.

    ``run_population`` (optional) trains several configs at once in one batched model, e.g.
    many small trials on one GPU. Configs may share a population only when their
    ``population_key`` is equal. Member ``i`` reports through ``reporters[i]``; if that raises
    (pruned, interrupted, timed out) or the member diverges, the member leaves the batch and
    the exception is returned in its place; the others go on. Each member's Result equals
    what ``run(configs[i], reporters[i], context)`` returns. A reporter with a ``stopped``
    attribute that is not None after a step's reports (its trial was pruned through another
    seed's report) leaves too, with that exception. ``refills``: ``run_population`` takes a
    ``feed`` (:class:`Feed`) that refills freed slots at epoch boundaries; the outcomes list then
    holds the joined members after the initial ones.
    """

    name: str
    config_cls: type
    run: Callable[[Any, Reporter, RunContext], Result]
    doc: str = ""
    run_population: PopulationRun | None = None
    population_key: Callable[[Any], Hashable] | None = None
    refills: bool = False
    # check_data(config, context): raises core.errors.DataError when the data files the config
    # reads are missing or damaged. Drivers call it once before training (every trial would
    # fail alike); None: nothing to check (generated data).
    check_data: Callable[[Any, RunContext], None] | None = None
    # False for a kind that computes nothing on a torch device (synthetic): a GPU share is then
    # only a Ray reservation, and a worker need not see a GPU to run it.
    uses_device: bool = True
    # What one reported step is (the x axis of the kind's learning curves): "epoch", "IMP level"
    step_unit: str = "step"

    def default_config(self) -> Any:
        return self.config_cls()


EXPERIMENTS: Registry[Experiment] = Registry("experiment kind")


def register_experiment(
    name: str,
    config_cls: type,
    doc: str = "",
    check_data: Callable[[Any, RunContext], None] | None = None,
    uses_device: bool = True,
    step_unit: str = "step",
):
    """Decorator: ``@register_experiment("imp", ImpConfig)`` on the run function."""
    assert dataclasses.is_dataclass(config_cls)

    def add(run: Callable[[Any, Reporter, RunContext], Result]):
        doc_ = doc or (run.__doc__ or "").strip()
        exp = Experiment(
            name, config_cls, run, doc_, check_data=check_data, uses_device=uses_device, step_unit=step_unit
        )
        EXPERIMENTS.register(name)(exp)
        return run

    return add


def register_population(name: str, key: Callable[[Any], Hashable], refills: bool = False):
    """Decorator: attach a batched ``run_population`` (and its grouping key) to kind ``name``;
    ``refills``: it takes a ``feed`` (:class:`Feed`)."""

    def add(run_population: PopulationRun) -> PopulationRun:
        exp = EXPERIMENTS.get(name)
        EXPERIMENTS.replace(
            name, dataclasses.replace(exp, run_population=run_population, population_key=key, refills=refills)
        )
        return run_population

    return add
