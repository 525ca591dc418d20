"""Fixtures: the simulated Qdrant cluster (a test double, see double.py) behind a local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.qdrant.double import FakeQdrantCluster, Running, serve

API_KEY = "test-double-key-7f3a"


@pytest.fixture
def qdrant(tmp_path: Path) -> Iterator[Running]:
    """A two-node cluster double that requires API_KEY."""
    yield from serve(FakeQdrantCluster(nodes=2, directory=tmp_path / "qdrant", api_key=API_KEY))
