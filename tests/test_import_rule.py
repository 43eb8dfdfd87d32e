"""core/ is the torch-only layer: it never imports optuna, ray, sqlalchemy or search (PyYAML it may:
core/yamlfile.py is the one YAML reader; tests/bad_input/test_security.py keeps YAML calls there)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"optuna", "ray", "sqlalchemy", "optuna_dashboard", "search"}
CORE_FILES = sorted((ROOT / "core").rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_file_imports_nothing_from_the_search_stack(path: Path) -> None:
    assert not (_imported_roots(path) & FORBIDDEN), f"{path} imports {_imported_roots(path) & FORBIDDEN}"


@pytest.mark.slow
def test_importing_every_core_module_loads_no_search_stack() -> None:
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in CORE_FILES]
    modules = [m.removesuffix(".__init__") for m in modules if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rule_detects_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom optuna.trial import Trial\ndef f():\n    import ray.util\n")
    assert _imported_roots(bad) & FORBIDDEN == {"optuna", "ray"}


@pytest.mark.slow
def test_importing_the_search_package_loads_no_optuna() -> None:
    """``import search`` is cheap (the ``sparsesearch`` entry point and ``python -m search.X`` import
    only what their command needs); Optuna comes with the modules that use it."""
    code = (
        "import sys, search\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'ray', 'sqlalchemy', 'torch'))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
