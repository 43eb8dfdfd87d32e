"""The one core entry that trains a list of configurations, and seed replicates on top of it.

:func:`train_configs` is what every driver calls (a search trial alone, its seed replicates, a
population round's group, a confirmation): one configuration runs as the kind's ``run`` in
``ctx.workdir`` itself (its checkpoints there, so a retry in the same directory resumes); several
are grouped by the kind's population key where it has a batched form (``run_population``,
members' files under ``workdir/member_NNN``), each group one batched run whose members are each
bitwise their run alone on CPU, and a kind without one runs them one after another in
``workdir/run_NNN`` (``batched=True``: a lone configuration too is a population of one, for a
population round whose groups share one work directory). The answer is a Result or the exception per configuration, in their order;
a batched run that breaks as a whole gives each of its configurations the same exception object.

"Seeds are replicates, not hyperparameters" (docs/definitions.md): :func:`run_replicates` trains
one configuration once per seed through it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.contract import Experiment, Feed, NullReporter, Reporter, Result, RunContext

__all__ = ["train_configs", "run_replicates"]


def train_configs(
    exp: Experiment,
    configs: Sequence[Any],
    reporters: Sequence[Reporter] | None,
    ctx: RunContext,
    *,
    batched: bool = False,
    feed: Feed | None = None,
) -> list[Result | BaseException]:
    """Train ``configs`` of the experiment kind ``exp`` (see the module's docstring); an outcome each.
    ``batched``: a lone configuration too goes through the batched form (a population round, whose
    work directory its groups share), not the kind's run in ``ctx.workdir``. ``feed`` (a kind that
    ``refills``, configs of one population key): the population is refilled from it, and the
    outcomes of the members that joined follow the configs'."""
    reps = list(reporters) if reporters is not None else [NullReporter() for _ in configs]
    if len(configs) == 1 and not (batched and exp.run_population is not None):
        return [_one(exp, configs[0], reps[0], ctx)]
    if exp.run_population is None or exp.population_key is None:
        return [
            _one(exp, c, r, dataclasses.replace(ctx, workdir=Path(ctx.workdir or ".") / f"run_{i:03d}"))
            for i, (c, r) in enumerate(zip(configs, reps))
        ]
    if feed is not None:
        if not exp.refills or len({exp.population_key(c) for c in configs}) > 1:
            raise ValueError(f"train_configs: {exp.name} cannot refill these configs from a feed")
        try:
            return exp.run_population(configs, reps, ctx, feed=feed)
        except Exception as err:  # noqa: BLE001  (the batched run broke: the feed knows who else joined)
            return [err] * len(configs)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, c in enumerate(configs):
        groups[exp.population_key(c)].append(i)
    out: list[Result | BaseException] = [RuntimeError("not run")] * len(configs)
    for idx in groups.values():
        try:
            got = exp.run_population([configs[i] for i in idx], [reps[i] for i in idx], ctx)
        except Exception as err:  # noqa: BLE001  (the batched run broke: each of its configurations failed)
            got = [err] * len(idx)
        for i, g in zip(idx, got):
            out[i] = g
    return out


def _one(exp, config: Any, reporter: Reporter, ctx: RunContext) -> Result | BaseException:
    try:
        return exp.run(config, reporter, ctx)
    except Exception as err:  # noqa: BLE001  (one run's failure is its own outcome)
        return err


def run_replicates(
    kind: str, config: Any, seeds: Sequence[int], ctx: RunContext, reporters: Sequence[Reporter] | None = None
) -> list[Result | BaseException]:
    """``config`` of experiment ``kind`` once per seed (:func:`train_configs`), in the order of ``seeds``."""
    from core import get_experiment  # imports (registers) the kinds

    configs = [dataclasses.replace(config, seed=int(s)) for s in seeds]
    return train_configs(get_experiment(kind), configs, reporters, ctx)
