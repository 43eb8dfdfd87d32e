"""``python -m core.run``: runs an experiment file; user mistakes are one line, exit 2, nothing on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import config_hash, from_dict
from core.experiments.synthetic import SyntheticConfig
from core.run import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "studies" / "experiments" / "synthetic.yaml"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "core.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # a real `python -m core.run` process
def test_the_command_runs_the_example_with_overrides_and_writes_its_files(tmp_path):
    done = _cli(str(EXAMPLE), "--set", "steps=2", "--set", "x=2", "--set", "y=-1.0e+0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = from_dict(
        SyntheticConfig, {"x": 2.0, "y": -1.0, "steps": 2, "step_seconds": 0.0, "fail": "none", "seed": 0}
    )
    out = tmp_path / "runs" / "core" / f"synthetic-{config_hash(expected)}"
    assert json.loads((out / "metrics.json").read_text()) == {
        "metrics": {"loss": 0.5, "n_params": 2.0},
        "artifacts": {},
    }
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "synthetic" and config["config_hash"] == config_hash(expected)
    assert config["config"]["steps"] == 2 and config["config"]["fail_at_step"] == 1  # defaults included
    assert "step    2" in done.stdout and "loss = 0.5" in done.stdout and str(out.name) in done.stdout


@pytest.mark.parametrize(
    "text, words",
    [
        ("kind: nope\n", "kind: unknown experiment kind 'nope'; expected one of"),
        ("kind: synthetic\nx: [1,\n", "line 2: invalid YAML: expected the node content, but found '<stream end>'"),
        (None, "cannot read the experiment file"),
    ],
)
@pytest.mark.slow  # a real `python -m core.run` process
def test_the_command_reports_a_bad_file_in_one_line_and_creates_nothing(tmp_path, text, words):
    if text is not None:
        (tmp_path / "e.yaml").write_text(text, encoding="utf-8")
    done = _cli("e.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: e.yaml: {words}") and done.stderr.count("\n") == 1
    assert "synthetic" in done.stderr or text != "kind: nope\n"  # the choices are listed
    assert sorted(p.name for p in tmp_path.iterdir()) == (["e.yaml"] if text is not None else [])


MISTAKES = [  # (file text or bytes, extra arguments, start of the message after "error: e.yaml: ")
    ("- a\n", [], "expected a mapping"),
    ("x: 1\n", [], "kind: missing; expected one of"),
    (b"kind: synthetic\nx: \xe9\n", [], "line 2: not valid UTF-8"),
    (
        "kind: synthetic\n\tx: 1\n",
        [],
        "line 2: invalid YAML: found character '\\t' that cannot start any token; indent with spaces",
    ),
    ("kind: synthetic\nz: 1\n", [], "z: unknown key; expected one of"),
    ("kind: synthetic\nsteps: many\n", [], "steps: expected an integer, got 'many'"),
    ("kind: synthetic\nsteps: 0\n", [], "steps: expected an integer >= 1"),
    ("kind: synthetic\n", ["--set", "steps"], "--set: expected key.path=value"),
    ("kind: synthetic\n", ["--set", "nope=1"], "nope: unknown key"),
    ("kind: synthetic\n", ["--set", "x=[1"], "--set x: invalid YAML: expected ',' or ']'"),
    ("kind: synthetic\n", ["--set", "steps=1.5"], "steps: expected an integer, got 1.5"),
    ("kind: synthetic\n", ["--set", "fail_at_step=9"], "fail_at_step: expected 1..steps"),
    ("kind: synthetic\n", ["--device", "gpu"], "--device: expected cpu, cuda or cuda:N"),
    ("kind: synthetic\n", ["--threads", "0"], "--threads: expected an integer >= 1"),
    ("kind: synthetic\n", ["--out", "e.yaml"], "--out: e.yaml exists and is not a directory"),
]


@pytest.mark.parametrize("text, extra, words", MISTAKES, ids=[m[2].split(";")[0] for m in MISTAKES])
def test_every_user_mistake_is_one_line_exit_2_and_nothing_on_disk(tmp_path, monkeypatch, capsys, text, extra, words):
    monkeypatch.chdir(tmp_path)
    data = text if isinstance(text, bytes) else text.encode()
    (tmp_path / "e.yaml").write_bytes(data)
    assert main(["e.yaml", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: e.yaml: {words}") and err.count("\n") == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["e.yaml"]


def test_a_diverged_run_exits_1_and_keeps_its_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([str(EXAMPLE), "--out", "o", "--set", "fail=nan", "--set", "fail_at_step=2"]) == 1
    assert "diverged" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["config.json"]


def test_help_documents_the_file_format_options_outputs_and_kinds(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    shown = capsys.readouterr().out
    assert info.value.code == 0
    for words in [
        "kind: synthetic",
        "--set",
        "--device",
        "--out",
        "--threads",
        "config.json",
        "metrics.json",
        "exit status",
        "experiment kinds:",
        "synthetic",
    ]:
        assert words in shown
