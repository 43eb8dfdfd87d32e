"""The torch core: experiments, networks, data, plasticity, lottery tickets, analysis.

Imports torch, numpy, the standard library, matplotlib and PyYAML (safe loader only, in
``core/yamlfile.py``); never optuna, ray or sqlalchemy (``tests/test_import_rule.py`` enforces it).
"""

from core.reproducible import request_strict_mkl

request_strict_mkl()  # before any matrix product: MKL fixes its mode at its first call

from core.contract import EXPERIMENTS, Experiment, Feed, NullReporter, Reporter, Result, RunContext  # noqa: E402
from core.errors import ConfigError, Diverged  # noqa: E402

__all__ = [
    "ConfigError",
    "Diverged",
    "EXPERIMENTS",
    "Experiment",
    "Feed",
    "NullReporter",
    "Reporter",
    "Result",
    "RunContext",
    "get_experiment",
]


def get_experiment(name: str, path: str = "kind") -> Experiment:
    """The registered experiment ``name`` (loads every kind on first use)."""
    import core.experiments  # noqa: F401  registers the kinds

    return EXPERIMENTS.get(name, path)
