"""The study file's JSON Schema: committed and current, every shipped study valid, bad ones refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from search import schema
from search.studyfile import SpecError, parse_spec
from tests.helpers import ROOT, study_doc

SCHEMA_FILE = ROOT / "studies" / "study.schema.json"
STUDIES = sorted((ROOT / "studies").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(committed)
    return jsonschema.Draft202012Validator(committed)


def test_committed_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == schema.json_schema(), (
        "studies/study.schema.json is stale: python -m search.schema --out studies/study.schema.json"
    )


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_study_validates_and_names_the_schema(path: Path, validator) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=study.schema.json"
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))
    ]
    assert errors == []


def _with(dotted: str, value) -> dict:
    doc = copy.deepcopy(study_doc())
    *parents, last = dotted.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    return doc


BAD = [
    ("study.n_trials", -3),
    ("study.bogus", 1),
    ("study.direction", "up"),
    ("study.timeout", "soon"),
    ("study.sampler", {"name": "annealing"}),
    ("experiment.kind", "nope"),
    ("experiment.stepz", 3),
    ("experiment.steps", "three"),
    ("search_space.x", {"type": "normal", "low": 0, "high": 1}),
    ("search_space.x", {"type": "float", "lo": 0, "high": 1}),
    ("search_space.x", {"type": "categorical", "choices": []}),
    ("resources.workers", 0),
    ("resources.gpus", 1),
    ("bogus_section", {}),
]


@pytest.mark.parametrize("dotted,value", BAD, ids=[f"{d}={v!r}"[:40] for d, v in BAD])
def test_schema_and_loader_refuse_the_same_mistakes(dotted: str, value, validator) -> None:
    doc = _with(dotted, value)
    assert not validator.is_valid(doc)
    with pytest.raises(SpecError):
        parse_spec(doc)


def test_schema_accepts_the_test_document(validator) -> None:
    validator.validate(study_doc())


def test_each_experiment_kind_is_a_branch_with_closed_sections() -> None:
    exp = schema.json_schema()["properties"]["experiment"]
    assert exp["discriminator"]["propertyName"] == "kind"
    assert set(exp["discriminator"]["mapping"]) == {"dendritic", "imp", "synthetic"}
    defs = schema.json_schema()["$defs"]
    assert all(d.get("additionalProperties") is False for d in defs.values() if d.get("type") == "object")


def test_cli_prints_or_writes_the_schema(tmp_path: Path, capsys) -> None:
    assert schema.main([]) == 0
    assert json.loads(capsys.readouterr().out) == schema.json_schema()
    assert schema.main(["--out", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text()) == schema.json_schema()
