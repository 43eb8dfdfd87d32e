"""core.yamlite must read its YAML subset exactly as ``yaml.safe_load`` does, and refuse the rest."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import yamlite
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _tagged(value):
    """Type-exact, order-exact, NaN-safe form for comparing (``1 == 1.0 == True`` otherwise)."""
    if isinstance(value, dict):
        return ("dict", [(_tagged(k), _tagged(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_tagged(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def _assert_same_as_pyyaml(text: str) -> None:
    assert _tagged(yamlite.loads(text)) == _tagged(yaml.safe_load(text))


ACCEPTED = [
    "kind: synthetic\nx: 1.5\nsteps: 3\n",
    "",
    "# only a comment\n\n",
    "---\na: 1\n",
    "--- # start\na: 1\n",
    "a:\n  b:\n    c: deep\n  d: 2\ne: 3\n",
    "list:\n- 1\n- two\n- 3.0\n",
    "list:\n  - 1\n  - 2\n",
    "- a: 1\n  b: 2\n- a: 3\n",
    "- - 1\n  - 2\n- - 3\n",
    "-\n  a: 1\n-\n- x\n",
    "sizes: [16, 16]\ngrid: [[16,16],[32,32]]\nsampler: {name: tpe, seed: 0}\n",
    "empty: []\nnone: {}\nnested: {a: [1, {b: c}], d: }\nflag: {x}\n",
    "trailing: [1, 2,]\nmap: {a: 1,}\nspaces: [ 1 ,2 ]\n",
    "json: {\"a\": 1, \"b\": [true, null]}\nadjacent: {a:1}\nurl: [http://x:80/a]\n",
    "ints: [0, -0, +7, 1_000, 010, 0x1F, -0x1f, 0b101, 0o17, 08]\n",
    "floats: [1.0, 1.0e-3, 1.5E+10, 1e-3, 1., .5, -.5, +1.5, 1_0.5, .inf, -.Inf, +.INF, .nan, .NaN]\n",
    "bools: [true, True, TRUE, false, yes, No, on, OFF, y, n, truthy]\n",
    "nulls: [null, Null, NULL, ~, nil, none]\nkey_only:\n",
    "s: 'single ''quoted'' # not a comment'\nd: \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\x41 \\U0001F600\"\n",
    "plain: hello world  # comment\nhash: a#b\ncolon: a:b\nodd: -x ?y :z\nbrackets: a[1], b{2}\n",
    "quoted keys: 1\n'a b': 2\n\"c: d\": 3\n1: int key\nfalse: bool key\nnull: null key\n1.5: float key\n",
    "unicode: héllo wörld ✓\n'é': 1\n",
    "a: 1\r\nb: 2\r\n",
    "\ufeffa: 1\n",
    "  indented: 1\n  top: 2\n",
    "value:\n  on next line\n",
    "[1, 2, 3]\n",
    "just a string\n",
    "42\n",
    "timeout: 10m\nlr: 3e-4\nversion: 1.2.3\nratio: 1/3\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_hand_written_documents_read_as_pyyaml_reads_them(text):
    _assert_same_as_pyyaml(text)


REJECTED = [
    ("a: &x 1\nb: *x\n", "line 1", "anchors"),
    ("a: 1\nb: *x\n", "line 2", "aliases"),
    ("a: !!str 1\n", "line 1", "tags"),
    ("a: |\n  text\n", "line 1", "block scalars"),
    ("a: >\n  text\n", "line 1", "block scalars"),
    ("a: 1\n---\nb: 2\n", "line 2", "several documents"),
    ("a: 1\n...\n", "line 2", "several documents"),
    ("--- a: 1\n", "line 1", "after '---'"),
    ("a:\n\tb: 1\n", "line 2", "tab"),
    ("a: 1\t# c\n", "line 1", "tab"),
    ("a: 1\na: 2\n", "line 2", "duplicate key 'a'"),
    ("x: {a: 1, a: 2}\n", "line 1", "duplicate key"),
    ("a: b\n  c\n", "line 2", "multi-line"),
    ("- a\n  b\n", "line 2", "multi-line"),
    ("a: 'open\n  close'\n", "line 1", "multi-line"),
    ("a: \"open\\\n  close\"\n", "line 1", "multi-line"),
    ("a: [1,\n  2]\n", "line 1", "one line"),
    ("a: {b: 1\n", "line 1", "one line"),
    ("a: [b: 1]\n", "line 1", "use {...}"),
    ("a: 1\n- b\n", "line 2", "expected 'key: value'"),
    ("- a\nb: 1\n", "line 2", "expected '- item'"),
    ("a: b: c\n", "line 1", "expected end of line"),
    ("a: [1, 2] x\n", "line 1", "expected end of line"),
    ("a: [[1] 2]\n", "line 1", "expected ',' or ']'"),
    ("a: [1, , 2]\n", "line 1", "expected a value"),
    ("? a\n: b\n", "line 1", "complex keys"),
    ("%YAML 1.1\n---\na: 1\n", "line 1", "directives"),
    ("a: - b\n", "line 1", "block sequence"),
    ("when: 2024-01-02\n", "line 1", "a date"),
    ("t: 1:30\n", "line 1", "base-60"),
    ("<<: {a: 1}\n", "line 1", "merge key"),
    ("a: \"\\q\"\n", "line 1", "bad escape"),
    ("a: @b\n", "line 1", "'@'"),
    ("a: 1\n  b: 2\n", "line 2", "indentation"),
    ("a:\n    b: 1\n  c: 2\n", "line 3", "indentation"),
    ("a: \x07\n", "line 1", "unsupported character"),
]


@pytest.mark.parametrize("text, where, words", REJECTED)
def test_constructs_outside_the_subset_are_refused_naming_the_line(text, where, words):
    with pytest.raises(ConfigError) as info:
        yamlite.loads(text)
    assert info.value.path == where
    assert words in info.value.message
    assert "\n" not in str(info.value)


def test_files_that_are_not_small_utf8_text_are_refused(tmp_path):
    cases = {"latin1.yaml": "a: é\n".encode("latin-1"), "nul.yaml": b"a: 1\nb: \0\n",
             "big.yaml": b"# " + b"x" * yamlite.MAX_BYTES + b"\n"}
    expected = {"latin1.yaml": ("line 1", "UTF-8"), "nul.yaml": ("line 2", "NUL"), "big.yaml": ("", "larger")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError) as info:
            yamlite.load(tmp_path / name)
        assert (info.value.path, expected[name][1] in info.value.message) == (expected[name][0], True)
    with pytest.raises(ConfigError, match="cannot read file"):
        yamlite.load(tmp_path / "missing.yaml")


def test_load_reads_a_file_and_parse_value_reads_one_inline_value(tmp_path):
    (tmp_path / "e.yaml").write_text("kind: synthetic\nx: 1.5\n", encoding="utf-8")
    assert yamlite.load(tmp_path / "e.yaml") == {"kind": "synthetic", "x": 1.5}
    assert [yamlite.parse_value(v) for v in ["3", "1.0e-3", "true", "null", "abc", "'1'", "[16, 16]", ""]] == [
        3, 0.001, True, None, "abc", "1", [16, 16], None]


# Not the empty string: PyYAML dumps that key as a complex key ("? ''"), outside the subset.
_KEYS = st.one_of(st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"],
                                        exclude_characters="\n\r\x85\u2028\u2029"), min_size=1, max_size=4),
                  st.integers(-100, 100), st.booleans())
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    # Short, single-line strings: PyYAML's dumper would fold long or multi-line ones (unsupported).
    st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"],
                          exclude_characters="\n\r\x85\u2028\u2029"), max_size=6),
    st.sampled_from(["yes", "No", "~", "null", "1e3", "0x1F", "010", "1:30", "2024-01-02", "- a", "a: b",
                     "#", "[x]", "{y}", "&a", "*a", "!t", "|", ">", "'", '"', "---", "...", " lead", "trail "]),
)


def _nested(depth: int):
    if depth == 0:
        return _SCALARS
    inner = _nested(depth - 1)
    return st.one_of(_SCALARS, st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(_KEYS, _nested(2), max_size=4), st.lists(_nested(2), max_size=4)))
def test_whatever_pyyaml_dumps_in_block_style_reads_back_identically(data):
    text = yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
    assert _tagged(yamlite.loads(text)) == _tagged(yaml.safe_load(text))


STUDY_FILES = sorted((REPO / "studies").rglob("*.yaml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=[str(p.relative_to(REPO)) for p in STUDY_FILES])
def test_every_study_file_reads_as_pyyaml_reads_it(path):
    _assert_same_as_pyyaml(path.read_text(encoding="utf-8"))


def test_nesting_deeper_than_the_limit_is_an_error_not_a_recursion_crash() -> None:
    from core.yamlite import MAX_DEPTH

    with pytest.raises(ConfigError, match="nested deeper than"):
        yamlite.loads("a: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ConfigError, match="blocks nested deeper than"):
        yamlite.loads("".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + " " * (MAX_DEPTH + 5) + "x: 1")
    assert yamlite.loads("a: " + "[" * 50 + "]" * 50) == yaml.safe_load("a: " + "[" * 50 + "]" * 50)
