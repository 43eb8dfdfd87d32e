"""docker/Dockerfile lint (hadolint is not installable here): a parser-based check.

Pinned bases, a non-root user, no secrets, and the same install steps as the Makefile's
``setup`` (which the README documents): a venv, pip upgraded, torch pinned FIRST, then the
project in editable mode. Bumping torch in the Makefile without the image fails here.
"""

from __future__ import annotations

import re
import shlex

from dockerfile_parse import DockerfileParser

from tests.cluster._compose import DOCKERFILE
from tests.helpers import ROOT

_DROP = {"-q", "--quiet", "--no-cache-dir"}


def _instructions(name: str) -> list[str]:
    parser = DockerfileParser(path=str(DOCKERFILE))
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def _install_steps(commands: list[str]) -> list[tuple[str, ...]]:
    """Each ``python -m venv`` / ``pip install`` command, reduced to what it installs."""
    steps = []
    for command in commands:
        # the image's optional CPU index is a build argument, not a different install step
        command = re.sub(r"\$\{TORCH_INDEX_URL:\+[^}]*\}", "", command)
        for part in re.split(r"&&|;", command):
            words = shlex.split(part.replace("$(PY)", "python").replace("$(PYTHON)", "python"))
            words = [w for w in words if w not in _DROP]
            if words[:3] == ["python", "-m", "venv"]:
                steps.append(("venv",))
            elif words[:3] == ["python", "-m", "pip"]:
                words = words[2:]
            if words[:2] == ["pip", "install"]:
                steps.append(tuple(re.sub(r"^\.\[[\w,]+\]$", ".", w) for w in words[2:]))  # .[test] -> .
    return steps


def _makefile_setup_recipe() -> list[str]:
    lines, recipe = (ROOT / "Makefile").read_text().splitlines(), []
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_base_images_are_pinned() -> None:
    bases = _instructions("FROM")
    # FROM ${BASE_IMAGE}: the default the ARG before it gives (a local build passes its own)
    defaults = dict(a.split("=", 1) for a in _instructions("ARG") if "=" in a)
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], base.split()[0])
        name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        assert "@sha256:" in image or (tag and tag != "latest" and re.search(r"\d", tag)), base


def test_runs_as_a_non_root_user() -> None:
    users = _instructions("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert any("useradd" in run for run in _instructions("RUN"))


def test_no_secrets_or_remote_adds() -> None:
    for name in ("ENV", "ARG"):
        for value in _instructions(name):
            assert not re.search(r"PASSWORD|TOKEN|SECRET", value, re.I), value
    assert not _instructions("ADD"), "COPY only: ADD fetches URLs and unpacks archives implicitly"
    assert not any(re.search(r"\bsudo\b|curl[^|]*\|\s*sh", run) for run in _instructions("RUN"))


def test_install_steps_equal_the_makefiles() -> None:
    image = _install_steps(_instructions("RUN"))
    make = _install_steps(_makefile_setup_recipe())
    assert make, "found no install steps in the Makefile's setup recipe"
    assert image == make, f"image {image} != Makefile {make}"
    torch = next(step for step in make if any(w.startswith("torch==") for w in step))
    assert make.index(torch) < make.index(("-e", ".")), "torch is installed before the project"
    assert torch[0] in (ROOT / "README.md").read_text(), "the README documents the same torch pin"


def test_install_step_parser_sees_a_difference() -> None:
    """The comparison above would notice a bumped pin or a missing step."""
    base = _install_steps(["python -m venv /v && pip install torch==2.13.0 && pip install -e '.[test]'"])
    assert base == [("venv",), ("torch==2.13.0",), ("-e", ".")]
    assert _install_steps(["pip install torch==2.14.0 && pip install -e ."]) != base
