"""MKL's strict CNR mode: on after ``import core``, and reported honestly when it came too late."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import core  # noqa: F401  (sets the mode)
from core.reproducible import strict_mkl

pytestmark = pytest.mark.skipif(strict_mkl() is None, reason="this torch build has no MKL (not x86)")


def test_importing_core_puts_mkl_in_strict_mode():
    assert strict_mkl() is True


@pytest.mark.slow
def test_a_product_before_import_core_leaves_mkl_as_it_was_and_strict_mkl_says_so():
    code = (
        "import os; os.environ.pop('MKL_CBWR', None)\n"
        "import torch; torch.ones(64, 64) @ torch.ones(64, 64)\n"
        "from core.reproducible import strict_mkl; print(strict_mkl())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
