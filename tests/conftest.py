"""Fixtures shared by all tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


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
