"""The command line: ``sparsesearch COMMAND ...``, the options the commands share, the one-line error.

Each command module (``search.launch``, ``search.dashboard``, ``search.report``, ``search.rerun``,
``search.confirm``, ``search.schema``, ``core.run``) exposes ``add_arguments(parser)`` and
``run(args) -> int`` and keeps ``main(argv)`` for its ``python -m`` form, so that
``sparsesearch launch studies/quickstart.yaml`` and ``python -m search.launch studies/quickstart.yaml``
are one parser and one code path. (``search.launch.run`` is its Python API, ``run(spec)``; its
command-line entry is ``run_args``.) Options used by several commands (the study file, ``--storage``)
are defined here once. A command's module is imported only when that command runs, so that
``sparsesearch --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["COMMANDS", "STORAGE_HELP", "add_storage", "add_study_file", "input_error", "main", "make_parser"]

STORAGE_HELP = (
    "storage URL overriding study.storage (also $SPARSESEARCH_STORAGE); ${VAR} is expanded from the environment"
)


def add_study_file(parser: argparse.ArgumentParser, example: str = "studies/quickstart.yaml") -> None:
    """The positional study file every study command takes (``args.study_file``)."""
    parser.add_argument("study_file", help=f"the study YAML file, e.g. {example}")


def add_storage(parser: argparse.ArgumentParser) -> None:
    """``--storage URL`` (``args.storage``), which overrides the study file's ``study.storage``."""
    parser.add_argument("--storage", help=STORAGE_HELP)


def input_error(study_file: str, err: Exception) -> int:
    """Print bad input as the one line ``error: FILE: FIELD: MESSAGE`` on stderr; return exit status 2.
    ``err`` is a ConfigError/SpecError (its message names the field), a StorageUnavailable
    (the field is study.storage) or an entry point's own error that names its option."""
    from search.store import StorageUnavailable  # here: importing storage (Optuna) is not free

    field = "study.storage: " if isinstance(err, StorageUnavailable) else ""
    print(f"error: {study_file}: {field}{err}", file=sys.stderr)
    return 2


@dataclass(frozen=True)
class Command:
    """A subcommand: the module that defines it, a one-line summary, its entry function."""

    module: str
    summary: str
    entry: str = "run"
    own_help: bool = False  # the module's add_arguments adds its own -h (core.run lists the kinds)

    @property
    def python_m(self) -> str:
        """What ``python -m`` runs: the package of a ``command`` module (``search.launch``)."""
        return self.module.removesuffix(".command")


COMMANDS: dict[str, Command] = {
    "launch": Command("search.launch.command", "run a study: create or load it, start workers, report", "run_args"),
    "dashboard": Command("search.dashboard.command", "serve optuna-dashboard on a study"),
    "report": Command("search.report.command", "write the morning report of a study"),
    "rerun": Command("search.rerun", "rerun one stored trial and compare its metrics"),
    "confirm": Command("search.confirm.command", "re-run the best configurations on fresh seeds, on the test set"),
    "run": Command("core.run", "run one experiment file without a search (python -m core.run)", own_help=True),
    "schema": Command("search.schema", "print the JSON Schema of study files"),
}


def _module(command: Command):
    """The command's module, or None when it is not installed (a partial install): the parser then
    says so in one line instead of failing at import."""
    try:
        return importlib.import_module(command.module)
    except ModuleNotFoundError as err:
        if err.name != command.module:
            raise
        return None


def make_parser(full: Collection[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The ``sparsesearch`` parser; the commands named in ``full`` get their options (and import
    their module), the others only their summary."""
    parser = argparse.ArgumentParser(
        prog="sparsesearch",
        description="Hyperparameter search for sparse networks: Optuna studies, Ray workers, a torch core.",
        epilog="`sparsesearch COMMAND ...` is `python -m MODULE ...` "
        "(e.g. search.launch, core.run); `sparsesearch COMMAND --help` shows a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub_parser = sub.add_parser(
            name, help=command.summary, description=command.summary, add_help=not (command.own_help and name in full)
        )
        if name not in full:
            continue
        module = _module(command)
        if module is None:
            sub_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        else:
            module.add_arguments(sub_parser)
    return parser


def _chosen(argv: list[str]) -> tuple[str, ...]:
    """The command named on the command line (its first word that is not an option), if any."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return (first,) if first in COMMANDS else ()


def main(argv: list[str] | None = None) -> int:
    """``sparsesearch``: parse, then hand the arguments to the command's ``run``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser(_chosen(argv)).parse_args(argv)
    command = COMMANDS[args.command]
    module = _module(command)
    if module is None:
        print(
            f"error: sparsesearch {args.command}: this command is not available in this version "
            f"({command.python_m} is missing)",
            file=sys.stderr,
        )
        return 2
    return getattr(module, command.entry)(args)


if __name__ == "__main__":
    sys.exit(main())
