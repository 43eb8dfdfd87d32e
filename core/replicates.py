"""Seed replicates of one configuration, trained as one population where the kind allows.

"Seeds are replicates, not hyperparameters" (docs/definitions.md): a configuration that claims to be
better is evaluated on several seeds. :func:`run_replicates` is the one entry point for that:
kinds with a ``run_population`` whose key ignores the seed (``dendritic``; ``imp``, whose data
come from ``data.seed``) train all replicates in one batched model, each bitwise equal to its
unbatched run on CPU; other kinds run them one after another. Either way the answer is a
Result or the exception per seed, in the order of ``seeds``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.contract import NullReporter, Reporter, Result, RunContext

__all__ = ["run_replicates"]


def run_replicates(
    kind: str, config: Any, seeds: Sequence[int], ctx: RunContext, reporters: Sequence[Reporter] | None = None
) -> list[Result | BaseException]:
    """``config`` of experiment ``kind`` once per seed; batched when the population key allows."""
    from core import get_experiment  # imports (registers) the kinds

    exp = get_experiment(kind)
    configs = [dataclasses.replace(config, seed=int(s)) for s in seeds]
    reps = list(reporters) if reporters is not None else [NullReporter() for _ in configs]
    if (
        exp.run_population is not None
        and exp.population_key is not None
        and len({exp.population_key(c) for c in configs}) == 1
    ):
        return exp.run_population(configs, reps, ctx)
    out: list[Result | BaseException] = []
    for i, (cfg, rep) in enumerate(zip(configs, reps)):
        try:
            out.append(exp.run(cfg, rep, dataclasses.replace(ctx, workdir=Path(ctx.workdir) / f"seed_{i:03d}")))
        except Exception as err:  # noqa: BLE001  (one seed's failure is its own outcome)
            out.append(err)
    return out
