"""What every figure of the core shares: matplotlib on the Agg backend and one way to save.

Imported only by the plotting modules (``core/experiments/*_plots.py``), so a run without
plots never loads matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(fig, path: Path, *, dpi: int = 100, tight: bool = True) -> Path:
    """Write ``fig`` as PNG to ``path``, close it, return ``path``.

    ``tight``: lay it out with ``tight_layout`` first (off for a figure with its own
    constrained layout).
    """
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
