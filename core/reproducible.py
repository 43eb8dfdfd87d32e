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

MKL reads the mode once, at its first call, so it must be set before any matrix product:
``import core`` calls :func:`enable_strict_mkl` first thing. The environment variable is set too,
so processes started later (Ray workers, subprocesses) start strict. Torch exports MKL's
``mkl_serv_cbwr_set``/``_get`` from ``libtorch_cpu``; torch has no API for them, hence ctypes.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

__all__ = ["enable_strict_mkl", "strict_mkl"]

_AUTO, _STRICT, _ALL = 2, 0x10000, -1  # MKL_CBWR_AUTO, MKL_CBWR_STRICT, MKL_CBWR_ALL (mkl_cbwr.h)


@functools.cache
def _mkl() -> ctypes.CDLL | None:
    """torch's CPU library when it carries MKL's CNR functions (x86 builds), else ``None``."""
    import torch

    lib_path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        lib = ctypes.CDLL(str(lib_path))
        lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set  # noqa: B018  (raises AttributeError if absent)
    except (OSError, AttributeError):
        return None
    return lib


def enable_strict_mkl() -> bool | None:
    """Ask MKL for strict CNR; whether it is on (``None``: torch has no MKL here).

    Keeps a ``MKL_CBWR`` the user chose; otherwise sets ``AUTO,STRICT``. ``False`` when MKL had
    already run a product in this process in another mode (too late to change it).
    """
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
    lib = _mkl()
    if lib is None:
        return None
    if os.environ["MKL_CBWR"].replace(" ", "").upper() == "AUTO,STRICT":
        lib.mkl_serv_cbwr_set(ctypes.c_int(_AUTO | _STRICT))  # fails harmlessly once MKL has run
    return strict_mkl()


def strict_mkl() -> bool | None:
    """Whether MKL runs in strict CNR mode now (``None``: torch has no MKL here)."""
    lib = _mkl()
    if lib is None:
        return None
    return bool(lib.mkl_serv_cbwr_get(ctypes.c_int(_ALL)) & _STRICT)
