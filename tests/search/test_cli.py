"""``sparsesearch COMMAND``: one console script; the parsers and code paths of the ``python -m`` forms."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from search import cli
from tests.bad_input.corpus import EXPERIMENTS, STUDIES
from tests.helpers import ROOT

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SCRIPT = Path(sys.executable).parent / "sparsesearch"
# The commands whose module exists today (search.schema may still be on its way).
PRESENT = [name for name, c in cli.COMMANDS.items() if importlib.util.find_spec(c.module) is not None]
STUDY_COMMANDS = ["launch", "dashboard", "report", "rerun", "confirm"]


def _exit(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> list[tuple]:
    return [
        (a.option_strings, a.dest, a.nargs, a.default, a.type, a.choices, a.required, a.help, a.metavar)
        for a in parser._actions
    ]


def test_the_console_script_lists_every_subcommand() -> None:
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run pip install -e . (pyproject [project.scripts])"
    done = subprocess.run([str(SCRIPT), "--help"], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for name in ["launch", "dashboard", "report", "rerun", "confirm", "run", "schema"]:
        assert f"\n    {name}" in done.stdout, done.stdout


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_subcommand_has_a_help(name: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert _exit(cli.main, [name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sparsesearch {name}"), out


@pytest.mark.parametrize("name", [n for n in PRESENT if n != "schema"])
def test_a_subcommand_is_the_python_m_parser_under_another_name(name: str, capsys, monkeypatch) -> None:
    """Same options, same help text (but for the program name), e.g. ``launch FILE --help``."""
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: the program names differ in length
    module = importlib.import_module(cli.COMMANDS[name].module)
    sub = _subparsers(cli.make_parser([name]))[name]
    assert _options(sub) == _options(module._parser())
    argv = ["studies/quickstart.yaml", "--help"]
    if name == "run":
        argv = ["studies/experiments/synthetic.yaml", "-h"]
    assert _exit(module.main, argv) == 0
    direct = capsys.readouterr().out
    assert _exit(cli.main, [name, *argv]) == 0
    via_cli = capsys.readouterr().out
    prog = "python -m " + cli.COMMANDS[name].python_m
    assert via_cli.replace(f"sparsesearch {name}", prog) == direct
    assert "--storage" in direct or name == "run"


@pytest.mark.parametrize("name", [n for n in PRESENT if n != "schema"])
def test_a_subcommand_hands_the_same_arguments_to_the_same_function(name: str, monkeypatch) -> None:
    command = cli.COMMANDS[name]
    module = importlib.import_module(command.module)
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(module, command.entry, lambda args: seen.append(args) or 7)
    argv = {"rerun": ["s.yaml", "--trial", "3"], "run": ["e.yaml", "--set", "x=1"]}.get(name, ["s.yaml"])
    assert cli.main([name, *argv]) == 7
    assert module.main(argv) == 7
    via_cli, direct = (vars(a) for a in seen)
    assert via_cli == {**direct, "command": name}


def test_storage_and_the_study_file_are_defined_once_in_search_cli() -> None:
    subs = _subparsers(cli.make_parser(PRESENT))
    for name in STUDY_COMMANDS:
        (storage,) = [a for a in subs[name]._actions if "--storage" in a.option_strings]
        (study_file,) = [a for a in subs[name]._actions if a.dest == "study_file"]
        assert storage.help == cli.STORAGE_HELP and study_file.help.startswith("the study YAML file, e.g.")
    # No other module spells the option: every parser gets it from cli.add_storage / add_study_file.
    sources = [p for d in ("core", "search") for p in (ROOT / d).rglob("*.py")]
    spelled = {
        p.relative_to(ROOT).as_posix()
        for p in sources
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "add_argument"
        and any(isinstance(a, ast.Constant) and a.value in ("--storage", "study_file") for a in node.args)
    }
    assert spelled == {"search/cli.py"}, spelled


@pytest.mark.slow
def test_bad_input_through_the_subcommands_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARSESEARCH_STORAGE", raising=False)
    for argv, words in [
        (["launch", str(STUDIES / "duplicate_key.yaml")], "line"),
        (["report", str(STUDIES / "negative_n_trials.yaml")], "study.n_trials"),
        (["run", str(EXPERIMENTS / "unknown_key.yaml")], "stepz"),
    ]:
        assert cli.main(argv) == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (argv, lines)
    assert list(tmp_path.iterdir()) == []
    done = subprocess.run(
        [str(SCRIPT), "launch", str(STUDIES / "python_object_tag.yaml")],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "line" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []


def test_schema_runs_search_schema_or_says_in_one_line_that_it_is_missing(capsys, monkeypatch) -> None:
    if "schema" in PRESENT:
        module = importlib.import_module("search.schema")
        assert callable(module.add_arguments) and callable(module.run)
        return
    assert cli.main(["schema"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: sparsesearch schema:") and "search.schema" in err
