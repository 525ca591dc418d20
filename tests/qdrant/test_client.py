"""connect(): a REST client with the API key, built without network calls."""

from __future__ import annotations

import warnings

from ragops.qdrant.client import connect
from tests.qdrant.conftest import API_KEY
from tests.qdrant.double import Running


async def test_connect_sends_the_api_key_and_builds_without_requests(qdrant: Running) -> None:
    qdrant.cluster.create_collection("manuals")
    with warnings.catch_warnings(record=True) as caught:  # the filters in force stay as they are
        client = connect(qdrant.node_urls()[0], API_KEY, timeout=0.5)
    assert [str(w.message) for w in caught] == []  # neither the insecure-key nor a compatibility warning
    assert qdrant.cluster.calls == []  # no version probe at construction
    try:
        assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]
    finally:
        await client.close()
    assert [(c.path, c.api_key) for c in qdrant.cluster.calls] == [("/node-0/collections", API_KEY)]
