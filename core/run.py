"""``python -m core.run EXPERIMENT.yaml``: one experiment run, without Optuna or Ray.

Everything the user can get wrong (the file, its YAML, its fields, ``--set``, ``--device``,
``--out``) is checked before anything is created, and reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from core import get_experiment
from core.config import config_hash, from_dict, replace_path, to_dict
from core.contract import EXPERIMENTS, Experiment, PrintReporter, RunContext
from core.errors import ConfigError, DataError, Diverged
from core.yamlfile import parse_yaml, read_yaml

__all__ = ["add_arguments", "main", "prepare", "run"]

_FORMAT = """\
experiment file:
  A YAML mapping: `kind` names the experiment, every other top-level key is a field of
  that kind's config (nested sections as nested mappings). Missing fields take their
  defaults; unknown keys and wrong types are errors. Example:

      kind: synthetic
      x: 1.5
      steps: 3

  Read with PyYAML's safe loader (core.yamlfile, the reader study files use too): at most
  1 MB of UTF-8, one document, no tags, no aliases (*name), no duplicate keys, nesting at
  most 32 deep.

output (in --out, default runs/core/<kind>-<config hash>):
  config.json   kind, config hash and the full resolved config, defaults included
  metrics.json  the final metrics, the artifact paths and the per-epoch (or per-level)
                history the run reported, where its kind keeps one

exit status: 0 done; 1 the run diverged; 2 a mistake in the file or the options
(one line `error: FILE: FIELD: MESSAGE` on stderr, nothing created)."""


class _Help(argparse.Action):
    """``--help`` lists the experiment kinds; importing them (and torch) only then keeps errors fast."""

    def __init__(self, option_strings: list[str], dest: str, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.epilog = f"{_FORMAT}\n\nexperiment kinds: {', '.join(_kinds())}"
        parser.print_help()
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This command's description and options on ``parser``, which must be made with ``add_help=False``
    (``-h`` here lists the experiment kinds): ``python -m core.run`` or ``sparsesearch run``."""
    parser.description = "Run one experiment from a YAML file (no search)."
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-h", "--help", action=_Help)
    parser.add_argument("file", metavar="EXPERIMENT.yaml", help="experiment file (format below)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default runs/core/<kind>-<hash>)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="key.path=value",
        dest="overrides",
        help="override one config field after the file, value read as YAML "
        "(e.g. --set steps=3 --set train.lr=1e-3); may repeat",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.run", add_help=False)
    add_arguments(parser)
    return parser


def _check_device(device: str) -> None:
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", device):
        raise ConfigError("--device", f"expected cpu, cuda or cuda:N, got {device!r}")
    if device.startswith("cuda"):
        import torch  # only here: a CPU run should not pay for importing torch

        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError("--device", f"{device} is not available on this machine; expected cpu")


def prepare(args: argparse.Namespace) -> tuple[Experiment, Any, Path]:
    """Read and validate everything: the experiment, its frozen config and the output dir."""
    data = read_yaml(args.file, what="experiment file")
    if not isinstance(data, dict):
        raise ConfigError("", "expected a mapping with 'kind' and the experiment's fields")
    data = dict(data)
    if "kind" not in data:
        raise ConfigError("kind", f"missing; expected one of {', '.join(_kinds())}")
    experiment = get_experiment(data.pop("kind"))
    config = from_dict(experiment.config_cls, data)
    for item in args.overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError("--set", f"expected key.path=value, got {item!r}")
        try:
            value = parse_yaml(raw)
        except ConfigError as err:
            raise ConfigError(f"--set {key}", err.message) from None
        config = replace_path(config, key.strip(), value)
    _check_device(args.device)
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads", f"expected an integer >= 1, got {args.threads}")
    out = Path(args.out or f"runs/core/{experiment.name}-{config_hash(config)}")
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    return experiment, config, out


def _kinds() -> list[str]:
    import core.experiments  # noqa: F401  registers the kinds

    return EXPERIMENTS.names()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    return run(_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command line (see :func:`add_arguments`); returns the exit status."""
    try:
        experiment, config, out = prepare(args)
        if experiment.check_data is not None:  # a damaged data file: one line, nothing written
            experiment.check_data(config, RunContext(device=args.device, threads=args.threads))
    except (ConfigError, DataError) as err:
        print(f"error: {args.file}: {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    # Written before the run, so that a crashed run still says what it was.
    _write_json(
        out / "config.json", {"kind": experiment.name, "config_hash": config_hash(config), "config": to_dict(config)}
    )
    context = RunContext(device=args.device, workdir=out, threads=args.threads)
    try:
        result = experiment.run(config, PrintReporter(), context)
    except Diverged as err:
        print(f"error: {args.file}: the run diverged: {err}", file=sys.stderr)
        return 1
    artifacts = {name: str(path) for name, path in result.artifacts.items()}
    record: dict[str, Any] = {"metrics": dict(result.metrics), "artifacts": artifacts}
    if isinstance(result.extra.get("history"), list):
        record["history"] = result.extra["history"]
    _write_json(out / "metrics.json", record)
    print("final metrics:")
    for name, value in result.metrics.items():
        print(f"  {name} = {value:.6g}" if isinstance(value, (int, float)) else f"  {name} = {value}")
    for name, path in artifacts.items():
        print(f"  artifact {name}: {path}")
    print(f"wrote {out / 'config.json'} and {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
