"""Reading docker/docker-compose.yml the way docker compose does, without a Docker engine.

Compose reads ``docker/.env`` (here: ``.env.example`` plus test values), substitutes
``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}`` and
``$$`` in every string, and resolves YAML anchors and merge keys. That is all the cluster test
needs to run the services' own commands.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT

__all__ = [
    "DOCKER",
    "COMPOSE_FILE",
    "CPU_OVERRIDE",
    "ENV_EXAMPLE",
    "DOCKERFILE",
    "InterpolationError",
    "Reset",
    "read_env_file",
    "interpolate",
    "load_yaml",
    "load_compose",
    "command_script",
    "service_env",
]

DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
CPU_OVERRIDE = DOCKER / "compose.cpu.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"

_VAR = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) is missing, as compose would refuse to start."""


class Reset:
    """Compose's ``!reset`` tag in override files (drop the inherited value)."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reset", lambda loader, node: Reset())


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments ignored; surrounding quotes removed."""
    env = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _substitute(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("plain")
        op, arg, value = m.group("op") or "", m.group("arg") or "", env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and missing:
            raise InterpolationError(f"{name}: {arg or 'required variable is missing'}")
        if op.endswith("-") and missing:
            return arg
        return value or ""

    return _VAR.sub(one, text)


def interpolate(doc: Any, env: dict[str, str]) -> Any:
    """``doc`` with every string (keys included) substituted from ``env``."""
    if isinstance(doc, str):
        return _substitute(doc, env)
    if isinstance(doc, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in doc.items()}
    if isinstance(doc, list):
        return [interpolate(v, env) for v in doc]
    return doc


def load_yaml(path: Path) -> Any:
    """The file as YAML (anchors and merge keys resolved; ``!reset`` becomes a marker)."""
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_compose(path: Path, env: dict[str, str]) -> dict:
    """The compose file after variable substitution, as ``docker compose config`` would see it."""
    return interpolate(load_yaml(path), env)


def command_script(service: dict) -> str:
    """A service's command as one ``sh -c`` script with the same meaning.

    Compose shell-splits a string command (no shell runs it), which ``shlex.split`` reproduces;
    a list is exec form, except ``[sh, -c, SCRIPT]``, whose script is returned as it is.
    """
    command = service["command"]
    if isinstance(command, str):
        return shlex.join(shlex.split(command))
    if command[:2] == ["sh", "-c"] and len(command) == 3:
        return command[2]
    return shlex.join(command)


def service_env(service: dict) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list) as a dict of strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}
