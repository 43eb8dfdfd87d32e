"""The facts a trial records about the code that ran it: the project's version and git commit."""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
from pathlib import Path

__all__ = ["device_name", "provenance"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def provenance() -> dict[str, str]:
    """Project version and git commit (when the code is a git checkout)."""
    try:
        version = importlib.metadata.version("sparsesearch")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"version": version, "git_commit": commit}


def device_name(device: str) -> str | None:
    """The GPU's name for a ``cuda`` device (recorded beside ``device``); None on the CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_name(torch.device(device))
