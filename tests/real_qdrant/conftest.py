"""The real-Qdrant tier: tests against Qdrant servers started as the StatefulSet starts them (server.py).

Skipped, with the reason saying how to enable it, unless RAGOPS_QDRANT_BINARY names a Qdrant binary.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.real_qdrant.server import API_KEY, SKIP_REASON, Cluster, binary, running, store

_stores = itertools.count()


@pytest.fixture(autouse=True)
def _needs_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    if binary() is None:
        pytest.skip(SKIP_REASON)
    # What the backup and restore Jobs get from the store's API-key Secret.
    monkeypatch.setenv("QDRANT_API_KEY", API_KEY)


@pytest.fixture
def qdrant(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """`qdrant(replicas=3, **spec)`: a store's Qdrant pods, running; all stopped at the end of the test."""
    qdrant_binary = binary()
    assert qdrant_binary is not None
    with ExitStack() as stack:

        def start(replicas: int = 1, name: str = "docs", **spec: Any) -> Cluster:
            root = tmp_path / f"store-{next(_stores)}"
            return stack.enter_context(running(store(name, replicas, **spec), root, qdrant_binary))

        yield start


def request(cluster: Cluster, method: str, path: str, node: int = 0, **kwargs: Any) -> Any:
    """One REST call to one node with the store's API key; the `result` of Qdrant's answer."""
    response = httpx.request(method, cluster.urls[node] + path, headers={"api-key": API_KEY}, timeout=60, **kwargs)
    response.raise_for_status()
    return response.json()["result"]
