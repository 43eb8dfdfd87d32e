"""Property: the spec loader either succeeds or raises SpecError, whatever the document.

Three generators: arbitrary nested documents, mutations of a valid study (keys dropped,
renamed, retyped; sections replaced), and arbitrary bytes given to ``load_spec`` as a file.
Anything else escaping (TypeError, RecursionError, an Optuna exception...) is a bug: it would
reach the user as a traceback instead of one line naming the field.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from search.studyfile import SpecError, load_spec, parse_spec
from tests.helpers import study_doc

pytestmark = pytest.mark.filterwarnings("ignore")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

_KEYS = [
    "study",
    "experiment",
    "search_space",
    "resources",
    "name",
    "storage",
    "artifacts",
    "kind",
    "type",
    "low",
    "high",
    "log",
    "step",
    "choices",
    "sampler",
    "pruner",
    "n_trials",
    "timeout",
    "enqueue",
    "workers",
    "x",
    "y",
    "steps",
    "direction",
    "directions",
    "metric",
    "metrics",
    "seed",
    "wrapped",
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(_KEYS)
    | st.sampled_from(
        [
            "tpe",
            "grid",
            "patient",
            "categorical",
            "float",
            "int",
            "synthetic",
            "imp",
            "dendritic",
            "minimize",
            "maximize",
            "8h",
            "sqlite:///x.db",
            "${HOME}",
            "..",
            "postgresql://u:p@h:notaport/db",
            "/abs/../x",
        ]
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | _SCALARS.filter(lambda v: v is not None), inner, max_size=4)
    ),
    max_leaves=25,
)


def _parse(doc) -> None:
    try:
        spec = parse_spec(doc)
    except SpecError:
        return
    assert spec.search_space  # a success is a whole, valid spec


@SETTINGS
@given(
    doc=st.dictionaries(st.sampled_from(["study", "experiment", "search_space", "resources"]), _VALUES, max_size=4)
    | _VALUES
)
def test_random_documents_raise_only_spec_error(doc) -> None:
    _parse(doc)


def _paths(doc, prefix=()):
    """Every (path to a mapping, key) in the document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix, k
            yield from _paths(v, (*prefix, k))


@st.composite
def _mutated(draw):
    kind = draw(st.sampled_from(["synthetic", "imp", "dendritic"]))
    doc = copy.deepcopy(study_doc(experiment={"kind": kind}))
    if doc["experiment"]["kind"] != "synthetic":
        doc["experiment"] = {"kind": doc["experiment"]["kind"]}
        doc["search_space"] = {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}
    doc["study"]["storage"] = "sqlite:///study.db"
    for _ in range(draw(st.integers(1, 4))):
        places = list(_paths(doc))
        if not places:
            break
        parent_path, key = draw(st.sampled_from(places))
        parent = doc
        for p in parent_path:
            parent = parent[p]
        action = draw(st.sampled_from(["drop", "rename", "retype"]))
        if action == "drop":
            del parent[key]
        elif action == "rename":
            parent[draw(_SCALARS.filter(lambda v: v is not None))] = parent.pop(key)
        else:
            parent[key] = draw(_VALUES)
    return doc


@SETTINGS
@given(doc=_mutated())
def test_mutated_study_documents_raise_only_spec_error(doc) -> None:
    _parse(doc)


@pytest.fixture(scope="module")
def bytes_dir(tmp_path_factory) -> Path:
    """Where the random-bytes files go (module-scoped: Hypothesis reruns the test body many times)."""
    return tmp_path_factory.mktemp("spec-bytes")


@SETTINGS
@given(
    data=st.binary(max_size=2000)
    | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from(
        [
            b"[" * 40,
            b"a: &x 1\nb: *x\n",
            b"!!python/name:os.system\n",
            b"\xff\xfe",
            b"study: !!set {a, b}\n",
            b"- !!binary aGk=\n",
            b"x: 2020-01-01\n",
        ]
    )
)
def test_random_bytes_raise_only_spec_error(bytes_dir: Path, data: bytes) -> None:
    path = bytes_dir / f"s{os.getpid()}.yaml"
    path.write_bytes(data)
    try:
        load_spec(path)
    except SpecError:
        pass


def test_spec_error_is_the_projects_config_error() -> None:
    assert issubclass(SpecError, ConfigError)


def _arg_names(factory) -> list[str]:
    import inspect

    return [p for p in inspect.signature(factory).parameters if p not in ("self", "args", "kwargs")] or ["x"]


@st.composite
def _sampler_or_pruner(draw):
    from search.studyfile import PRUNERS, SAMPLERS

    registry, section = draw(st.sampled_from([(SAMPLERS, "sampler"), (PRUNERS, "pruner")]))
    name = draw(st.sampled_from(registry.names()))
    keys = _arg_names(registry.get(name))
    args = draw(st.dictionaries(st.sampled_from(keys), _VALUES, max_size=3))
    return section, {"name": name, **args}


@SETTINGS
@given(choice=_sampler_or_pruner())
def test_sampler_and_pruner_arguments_raise_only_spec_error(choice) -> None:
    section, raw = choice
    doc = study_doc(study={section: raw, "storage": "sqlite:///study.db"})
    doc["search_space"] = {"fail": {"type": "categorical", "choices": ["none", "nan"]}}
    _parse(doc)
