"""The JSON Schema of a study file, experiment sections included, for editors and CI.

    python -m search.schema > studies/study.schema.json      (or: sparsesearch schema)

The study, search_space, resources and confirm sections come from their pydantic
declarations (:mod:`search.studyfile.sections`); the experiment section is a union on ``kind`` over
the registered experiment kinds (:mod:`search.studyfile.experiment_schema`), generated from the core's frozen config dataclasses (the
core itself knows nothing of pydantic). A study file names the schema on its first line,
``# yaml-language-server: $schema=study.schema.json``, so that editors complete and check it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from search.studyfile import StudyFile

__all__ = ["add_arguments", "json_schema", "main", "run"]


class _Closed(GenerateJsonSchema):
    """Unknown keys are errors everywhere, as in the loader: the core's dataclasses too."""

    def dataclass_schema(self, schema: Any) -> Any:
        out = super().dataclass_schema(schema)
        if isinstance(out, dict) and out.get("type") == "object":
            out.setdefault("additionalProperties", False)
        return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the whole study file."""
    schema = TypeAdapter(StudyFile).json_schema(mode="validation", schema_generator=_Closed)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sparsesearch schema`` / ``python -m search.schema``."""
    parser.add_argument("--out", metavar="FILE", help="write the schema to FILE instead of standard output")


def run(args: argparse.Namespace) -> int:
    """Print the schema as JSON (or write it to ``--out``); exit status 0."""
    text = json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.schema", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
