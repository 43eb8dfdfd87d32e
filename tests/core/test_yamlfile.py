"""core.yamlfile, the one YAML reader: ``yaml.safe_load``'s values, and one-line refusals of the rest."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.yamlfile import MAX_DEPTH, MAX_FILE_BYTES, parse_yaml, read_yaml

REPO = Path(__file__).resolve().parents[2]

REJECTED = [  # (text, the error's path, words in its message)
    ("a: &x 1\nb: *x\n", "line 2", "aliases"),
    ("a: &a [1, 2]\nb: [*a, *a]\n", "line 2", "aliases"),
    ("a: !!python/object/apply:os.system ['true']\n", "line 1", "invalid YAML"),
    ("a: !!python/name:os.system\n", "line 1", "invalid YAML"),
    ("a: 1\na: 2\n", "line 2", "duplicate key 'a'"),
    ("x: {a: 1, a: 2}\n", "line 1", "duplicate key 'a'"),
    ("a: 1\n---\nb: 2\n", "line 2", "invalid YAML"),
    ("a:\n\tb: 1\n", "line 2", "indent with spaces"),
    ("a: [1,\nb: 2\n", "line 2", "expected ',' or ']'"),
    ("a: b: c\n", "line 1", "invalid YAML"),
    ("a: \x07\n", "line 1", "unacceptable character #x0007"),
    ("a: 1\nb: \0\n", "line 2", "unacceptable character #x0000"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "line 1", f"nested deeper than {MAX_DEPTH} levels"),
    (
        "".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + " " * (MAX_DEPTH + 5) + "x: 1\n",
        f"line {MAX_DEPTH + 1}",
        "nested deeper than",
    ),
]


@pytest.mark.parametrize("text, where, words", REJECTED, ids=[r[2] for r in REJECTED])
def test_what_the_safe_loader_should_not_accept_is_refused_in_one_line_naming_the_line(text, where, words):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text)
    assert info.value.path == where, str(info.value)
    assert words in info.value.message
    assert "\n" not in str(info.value)


def test_files_that_are_not_small_utf8_text_are_refused_without_reading_them_whole(tmp_path):
    cases = {
        "latin1.yaml": ("a: 1\nb: é\n".encode("latin-1"), "line 2", "not valid UTF-8"),
        "utf16.yaml": ("a: 1\n".encode("utf-16"), "line 1", "not valid UTF-8"),
        "big.yaml": (b"# " + b"x" * MAX_FILE_BYTES + b"\n", "", f"expected at most {MAX_FILE_BYTES}"),
    }
    for name, (data, where, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError) as info:
            read_yaml(tmp_path / name)
        assert (info.value.path, words in info.value.message) == (where, True), str(info.value)
    with pytest.raises(ConfigError, match="^cannot read the study file: "):
        read_yaml(tmp_path / "missing.yaml", what="study file")


@pytest.mark.parametrize(
    "text",
    [
        "kind: synthetic\nx: 1.5\nsteps: 3\n",
        "",
        "---\na: 1\n",
        "\ufeffa: 1\n",
        "a: 1\r\nb: 2\r\n",
        "sizes: [16, 16]\nsampler: {name: tpe, seed: 0}\n",
        "a: &only_an_anchor 1\n",
        "floats: [1.0e-3, .inf, 1_000]\nbools: [yes, off]\nnulls: [~, null]\n",
        "[1, 2]\n",
        "42\n",
    ],
)
def test_values_are_the_safe_loaders(text):
    assert parse_yaml(text) == yaml.safe_load(text)


def test_dates_are_dates_as_the_safe_loader_reads_them_and_the_configs_refuse_them():
    assert parse_yaml("when: 2024-01-02\n") == {"when": datetime.date(2024, 1, 2)}
    from core.config import from_dict
    from core.experiments.synthetic import SyntheticConfig

    with pytest.raises(ConfigError, match=r"^x: expected a number, got datetime\.date\(2024, 1, 2\)"):
        from_dict(SyntheticConfig, parse_yaml("x: 2024-01-02\n"))


def test_a_set_value_is_one_yaml_value():
    assert [parse_yaml(v) for v in ["3", "1.0e-3", "true", "null", "abc", "'1'", "[16, 16]", ""]] == [
        3,
        0.001,
        True,
        None,
        "abc",
        "1",
        [16, 16],
        None,
    ]


_KEYS = st.one_of(st.text(max_size=4), st.integers(-100, 100))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))


def _nested(depth: int):
    inner = _SCALARS if depth == 0 else _nested(depth - 1)
    return st.one_of(_SCALARS, st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _nested(2), max_size=4), st.booleans())
def test_whatever_pyyaml_dumps_reads_as_the_safe_loader_reads_it(data, flow):
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True)
    assert parse_yaml(text) == yaml.safe_load(text)


SHIPPED = sorted((REPO / "studies").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(REPO)) for p in SHIPPED])
def test_every_shipped_file_reads_as_the_safe_loader_reads_it(path):
    assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))
