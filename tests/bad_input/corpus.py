"""The bad-input corpus: files on disk in ``studies/`` and ``experiments/``, plus generated ones.

Each file starts with ``# DESCRIPTION`` and ``# expect: TEXT``: the one stderr line must name
TEXT (a field such as ``search_space.x.high``, or ``line`` for YAML-level problems).
``# only: launch`` marks a file whose mistake only the launcher can see (it needs Ray to count
the GPUs); the other entry points find no study and say so, still with exit status 2.
Binary, non-UTF-8, oversized and deeply nested files are generated at run time into a
temporary directory rather than committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import search.dashboard
import search.launch
import search.report
import search.rerun

HERE = Path(__file__).resolve().parent
STUDIES = HERE / "studies"
EXPERIMENTS = HERE / "experiments"
TEN_MB = 10 * 1024 * 1024
# Every study entry point: its ``main(argv)`` and the extra arguments it needs to run at all.
ENTRY_POINTS: dict[str, tuple[Callable[[list[str]], int], list[str]]] = {
    "launch": (search.launch.main, []),
    "dashboard": (search.dashboard.main, ["--port", "0"]),
    "report": (search.report.main, []),
    "rerun": (search.rerun.main, ["--trial", "0"]),
}


@dataclass(frozen=True)
class Case:
    """One malformed file: where it is (or will be generated), what the error line must name."""

    name: str
    expect: str
    only: str | None = None
    data: bytes | None = None  # generated content; None: a committed file

    def path(self, tmp: Path, folder: Path) -> Path:
        if self.data is None:
            return folder / self.name
        target = tmp / self.name
        target.write_bytes(self.data)
        return target


def _header(path: Path, key: str) -> str | None:
    m = re.search(rf"^# {key}: (.+)$", path.read_text(encoding="utf-8"), re.M)
    return m.group(1).strip() if m else None


def _on_disk(folder: Path) -> list[Case]:
    return [Case(p.name, _header(p, "expect") or "", _header(p, "only")) for p in sorted(folder.glob("*.yaml"))]


def _generated(valid_head: bytes) -> list[Case]:
    return [
        Case("gen_binary.yaml", "UTF-8", data=bytes(range(256)) * 8),
        Case("gen_latin1.yaml", "UTF-8", data=valid_head + "# caf\u00e9 na\u00efve\n".encode("latin-1")),
        Case("gen_utf16.yaml", "UTF-8", data=valid_head.decode().encode("utf-16")),
        Case("gen_10mb.yaml", "bytes", data=valid_head + b"# padding padding padding\n" * (TEN_MB // 26)),
        Case("gen_deep_nesting.yaml", "line", data=valid_head + b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ]


def study_cases() -> list[Case]:
    """Every malformed study file (committed and generated)."""
    return _on_disk(STUDIES) + _generated(b"study:\n  name: bad\n  n_trials: 4\n")


def experiment_cases() -> list[Case]:
    """Every malformed experiment file for ``python -m core.run``."""
    return _on_disk(EXPERIMENTS) + _generated(b"kind: synthetic\nsteps: 2\n")
