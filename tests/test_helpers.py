"""The test suite's own guards: a missing MNIST file is a skip on a laptop and a failure in CI."""

from __future__ import annotations

import pytest

from core.data.mnist import MNIST_FILES
from tests.helpers import ROOT, require_mnist


def test_missing_mnist_skips_and_fails_when_required(tmp_path, monkeypatch) -> None:
    names = sorted(MNIST_FILES)
    for name in names[:-1]:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.delenv("SPARSESEARCH_REQUIRE_MNIST", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"lacks {names[-1]}"):
        require_mnist(tmp_path)
    monkeypatch.setenv("SPARSESEARCH_REQUIRE_MNIST", "1")
    with pytest.raises(pytest.fail.Exception, match=f"SPARSESEARCH_REQUIRE_MNIST=1.*lacks {names[-1]}"):
        require_mnist(tmp_path)
    (tmp_path / names[-1]).write_bytes(b"")
    assert require_mnist(tmp_path) == tmp_path


def test_ci_makes_the_mnist_tests_required() -> None:
    """Like PostgreSQL and the browser: CI exports the requirement, so a missing file is red."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "SPARSESEARCH_REQUIRE_MNIST=1" in ci and "MNIST_DIR=" in ci
