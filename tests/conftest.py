"""Fixtures shared by all tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import yaml

import core  # noqa: F401  (first: MKL's strict mode is asked for before any test module multiplies)
from tests.helpers import require_mnist


@pytest.fixture
def write_study(tmp_path: Path):
    """``write_study(doc) -> path`` storing under tmp_path, with storage/artifacts inside it."""

    def write(doc: dict, filename: str = "study.yaml") -> Path:
        doc = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items()}
        doc["study"].setdefault("storage", f"sqlite:///{tmp_path}/study.db")
        doc["study"].setdefault("artifacts", str(tmp_path / "artifacts"))
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST files (tests.helpers.MNIST_DIR); skipped without them, failed under
    SPARSESEARCH_REQUIRE_MNIST=1."""
    return require_mnist()


def _postgres_url() -> str | None:
    url = os.environ.get("SPARSESEARCH_TEST_POSTGRES")
    if not url:
        if os.environ.get("SPARSESEARCH_REQUIRE_POSTGRES") == "1":
            pytest.fail("SPARSESEARCH_REQUIRE_POSTGRES=1 but SPARSESEARCH_TEST_POSTGRES is not set")
        pytest.skip("PostgreSQL tests need SPARSESEARCH_TEST_POSTGRES=postgresql://... (.ci/run sets it)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_url(request, tmp_path: Path) -> str:
    """Each storage backend the service supports; PostgreSQL from $SPARSESEARCH_TEST_POSTGRES."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/study.db"
    return _postgres_url()


@pytest.fixture
def study_name(request) -> str:
    """A study name unique across runs (PostgreSQL databases outlive a test)."""
    return f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def pytest_collection_modifyitems(items) -> None:
    """MNIST training is slow: every test that takes the ``mnist_dir`` fixture is marked ``slow``
    (``make test-fast`` leaves them out; ``make test`` runs everything)."""
    for item in items:
        if "mnist_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
