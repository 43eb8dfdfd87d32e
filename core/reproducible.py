"""Bitwise reproducibility on CPU: MKL's strict conditional numerical reproducibility (CNR).

Intel MKL, torch's BLAS on x86 CPUs, chooses its gemm code path by the memory alignment of the
operands. A member of a population whose slice of a batched tensor starts at an address that is
not a multiple of 64 bytes can then get other last bits than the same member alone, whose
tensors are fresh (aligned) allocations. Measured on an AMD EPYC with AVX-512, torch 2.13+cpu:
the weight gradient of a 33→6 layer over 1000 rows differed for member 1 of 3 (its slice starts
32 bytes past a 64-byte boundary) and for a 30→10 layer over 77 rows. MKL's strict CNR mode
(``MKL_CBWR=AUTO,STRICT``: the processor's own fastest code path, results independent of
alignment) removes the difference, with no measurable cost at this project's sizes
(``benchmarks/bench_dendritic_population.py``).

MKL reads the mode once, at its first call, so it must be asked for before any matrix product:
``import core`` sets the environment variable first thing (without importing torch), which
processes started later (Ray workers, subprocesses) inherit. :func:`strict_mkl` reads the mode
MKL runs in through ``mkl_serv_cbwr_get``, which torch exports from ``libtorch_cpu`` but has no
API for, hence ctypes; the population runs warn when it is off.
"""

from __future__ import annotations

import ctypes
import functools
import os
import warnings
from pathlib import Path

__all__ = ["request_strict_mkl", "strict_mkl", "warn_unless_strict"]

_STRICT, _ALL = 0x10000, -1  # MKL_CBWR_STRICT, MKL_CBWR_ALL (mkl_cbwr.h)


@functools.cache
def _mkl() -> ctypes.CDLL | None:
    """torch's CPU library when it carries MKL's CNR functions (x86 builds), else ``None``."""
    import torch

    lib_path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        lib = ctypes.CDLL(str(lib_path))
        lib.mkl_serv_cbwr_get  # noqa: B018  (raises AttributeError if absent)
    except (OSError, AttributeError):
        return None
    return lib


def request_strict_mkl() -> None:
    """Ask MKL for strict CNR from its first call on (``MKL_CBWR=AUTO,STRICT``; a value the user set
    is kept). Cheap, imports nothing: MKL reads the variable when it first runs, so this works as
    long as no matrix product ran before it in this process (:func:`strict_mkl` tells)."""
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")


def strict_mkl() -> bool | None:
    """Whether MKL runs in strict CNR mode now (``None``: torch has no MKL here)."""
    lib = _mkl()
    if lib is None:
        return None
    return bool(lib.mkl_serv_cbwr_get(ctypes.c_int(_ALL)) & _STRICT)


def warn_unless_strict(device: str) -> None:
    """A population on CPU whose MKL is not strict (a product ran before ``import core``, or the user
    set ``MKL_CBWR``): members may differ from their runs alone in the last bits; say so once."""
    if str(device).startswith("cpu") and strict_mkl() is False:
        warnings.warn(
            "MKL is not in strict CNR mode (MKL_CBWR=AUTO,STRICT before the first matrix product): "
            "population members may differ from their runs alone in the last bits",
            RuntimeWarning,
            stacklevel=3,
        )
