"""The experiment section's schema: a union on ``kind`` over the registered experiment kinds,
generated from the core's frozen config dataclasses (the core itself knows nothing of pydantic).
:mod:`search.studyfile.sections` hangs it on the study file's ``experiment`` key; ``python -m
search.schema`` prints the whole file's JSON Schema."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, TypeAdapter, create_model

from core import EXPERIMENTS, get_experiment

__all__ = ["experiment_core_schema"]


def _experiment_model(name: str) -> type:
    """``kind: NAME`` plus the top-level fields of the kind's config dataclass, defaults included."""
    exp = get_experiment(name)
    hints = typing.get_type_hints(exp.config_cls)
    fields: dict[str, Any] = {"kind": (Literal[name], Field(description=f"Experiment kind {name!r}."))}
    for f in dataclasses.fields(exp.config_cls):
        if not f.init:
            continue
        if f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], f.default)
    return create_model(
        f"{exp.config_cls.__name__}Experiment",
        __config__=ConfigDict(extra="forbid"),
        __doc__=(exp.doc or exp.config_cls.__doc__ or name).strip().split("\n\n")[0],
        **fields,
    )


@functools.cache
def experiment_core_schema() -> Any:
    """The pydantic core schema of the experiment section: a union on ``kind``."""
    import core.experiments  # noqa: F401  registers every kind

    models = tuple(_experiment_model(name) for name in EXPERIMENTS)
    union = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007  (a runtime tuple)
    return TypeAdapter(union).core_schema
