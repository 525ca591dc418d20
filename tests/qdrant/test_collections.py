"""ensure_collections through the operator's REST client, against qdrant-client's local mode behind Qdrant's
documented collection endpoints (rest_double.py).

Local mode keeps vector size, distance and on_disk, but ignores shard_number and replication_factor: the
distributed rules are covered in test_plan.py, and here the requests themselves show what was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from qdrant_client import models

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.collections import (
    IMMUTABLE,
    READY,
    UNDER_REPLICATED,
    UNPLACEABLE,
    QdrantRefused,
    ensure_collections,
)
from ragops.qdrant.rest import QdrantRest
from tests.qdrant.rest_double import LocalModeQdrant

KEY = "test-key"


@pytest.fixture
def qdrant() -> LocalModeQdrant:
    return LocalModeQdrant(api_key=KEY)


@pytest.fixture
async def api(qdrant: LocalModeQdrant) -> AsyncIterator[QdrantRest]:
    client = QdrantRest("http://docs-qdrant.search.svc:6333", KEY, transport=qdrant.transport())
    yield client
    await client.close()


def spec(name: str, size: int = 4, **fields: Any) -> CollectionSpec:
    return CollectionSpec.model_validate({"name": name, "vectorSize": size, **fields})


async def test_creates_missing_collections_with_declared_vectors(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    report = await ensure_collections(
        api, [spec("manuals", 8, distance="Dot", onDisk=True), spec("faq")], nodes=1, prune=False
    )

    assert report.ready and report.reason == READY and report.present == ["faq", "manuals"]
    vectors = qdrant.client.get_collection("manuals").config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert (vectors.size, vectors.distance, vectors.on_disk) == (8, models.Distance.DOT, True)


async def test_second_pass_in_sync_writes_nothing_and_keeps_its_message(
    api: QdrantRest, qdrant: LocalModeQdrant
) -> None:
    desired = [spec("manuals"), spec("faq", onDisk=True)]
    first = await ensure_collections(api, desired, nodes=1, prune=True)
    assert [w[0] for w in qdrant.take_writes()] == ["PUT", "PUT"]

    second = await ensure_collections(api, desired, nodes=1, prune=True)

    assert qdrant.take_writes() == []
    assert second == first


async def test_on_disk_is_updated_live_then_in_sync(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    await ensure_collections(api, [spec("manuals")], nodes=1, prune=False)
    qdrant.take_writes()

    report = await ensure_collections(api, [spec("manuals", onDisk=True)], nodes=1, prune=False)

    assert report.ready
    assert qdrant.take_writes() == [("PATCH", "manuals", {"vectors": {"": {"on_disk": True}}})]
    await ensure_collections(api, [spec("manuals", onDisk=True)], nodes=1, prune=False)
    assert qdrant.take_writes() == []


async def test_immutable_mismatch_is_reported_not_applied(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    await ensure_collections(api, [spec("manuals", 4), spec("faq")], nodes=1, prune=False)
    qdrant.take_writes()

    report = await ensure_collections(
        api, [spec("manuals", 768, distance="Euclid"), spec("faq"), spec("new")], nodes=1, prune=False
    )

    assert not report.ready and report.reason == IMMUTABLE
    assert "collection manuals: vectorSize is 4 in Qdrant but 768 is wanted" in report.message
    assert "distance is Cosine in Qdrant but Euclid is wanted" in report.message
    assert "create a new collection" in report.message
    assert "faq" not in report.message
    # The mismatching collection is left alone; the missing one is still created.
    assert [(w[0], w[1]) for w in qdrant.take_writes()] == [("PUT", "new")]
    vectors = qdrant.client.get_collection("manuals").config.params.vectors
    assert isinstance(vectors, models.VectorParams) and vectors.size == 4


async def test_named_vectors_are_reported(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    qdrant.client.create_collection("multi", vectors_config={"text": models.VectorParams(size=4, distance="Cosine")})

    report = await ensure_collections(api, [spec("multi")], nodes=1, prune=False)

    assert not report.ready and report.reason == IMMUTABLE
    assert "named vectors ['text']" in report.message


async def test_undeclared_collections_survive_without_prune(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    await ensure_collections(api, [spec("manuals"), spec("old")], nodes=1, prune=False)

    report = await ensure_collections(api, [spec("manuals")], nodes=1, prune=False)

    assert report.ready and report.present == ["manuals", "old"]
    assert qdrant.client.collection_exists("old")


async def test_prune_deletes_only_undeclared_collections(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    await ensure_collections(api, [spec("manuals"), spec("old"), spec("older")], nodes=1, prune=False)

    report = await ensure_collections(api, [spec("manuals")], nodes=1, prune=True)

    assert report.ready and report.present == ["manuals"]
    assert [c.name for c in qdrant.client.get_collections().collections] == ["manuals"]


async def test_distributed_store_creates_with_shard_and_replication_defaults(
    api: QdrantRest, qdrant: LocalModeQdrant
) -> None:
    await ensure_collections(api, [spec("a"), spec("b", shardNumber=6, replicationFactor=3)], nodes=3, prune=False)

    created = {name: body for _, name, body in qdrant.take_writes()}
    assert (created["a"]["shard_number"], created["a"]["replication_factor"]) == (3, 2)
    assert (created["b"]["shard_number"], created["b"]["replication_factor"]) == (6, 3)


async def test_a_replication_factor_the_nodes_cannot_place_is_reported() -> None:
    qdrant = LocalModeQdrant(api_key=KEY, nodes=3)
    api = QdrantRest("http://docs-qdrant.search.svc:6333", KEY, transport=qdrant.transport())
    desired = [spec("wide", shardNumber=2, replicationFactor=5), spec("fine", replicationFactor=3)]

    report = await ensure_collections(api, desired, nodes=3, prune=False)

    # Created anyway (Qdrant places 3 replicas), and reported: the declared factor is not what runs.
    assert not report.ready and report.reason == UNPLACEABLE and report.present == ["fine", "wide"]
    assert report.message == (
        "collection wide: replicationFactor 5 cannot be placed on 3 Qdrant node(s), which hold at most one "
        "replica of a shard each (replicas: shard 0: 3, shard 1: 3); set replicationFactor to 3 or fewer, "
        "or add nodes"
    )
    [gap] = report.unplaced
    assert (gap.collection, gap.wanted, gap.nodes, gap.replicas) == ("wide", 5, 3, {0: 3, 1: 3})

    # Raising a factor later changes Qdrant's config only: the missing replicas are reported too.
    qdrant.placed.pop("wide")
    qdrant.client.delete_collection("wide")
    report = await ensure_collections(api, [spec("fine", replicationFactor=3)], nodes=4, prune=False)
    assert report.reason == READY
    qdrant.nodes = 4
    report = await ensure_collections(api, [spec("fine", replicationFactor=4)], nodes=4, prune=False)
    assert not report.ready and report.reason == UNDER_REPLICATED
    assert "collection fine: fewer replicas than replicationFactor 4 (shard 0: 3" in report.message
    await api.close()


async def test_a_refused_create_is_reported_and_others_still_handled(api: QdrantRest, qdrant: LocalModeQdrant) -> None:
    qdrant.refuse["bad"] = "Bad request: shard_number is too large"  # e.g. an impossible shard layout

    report = await ensure_collections(api, [spec("bad"), spec("good")], nodes=1, prune=False)

    assert not report.ready and report.reason == "CollectionRejected"
    assert report.message == "collection bad: Qdrant refused the change (Bad request: shard_number is too large)"
    assert report.present == ["good"]


async def test_a_wrong_api_key_is_refused(qdrant: LocalModeQdrant) -> None:
    wrong = QdrantRest("http://docs-qdrant.search.svc:6333", "not-the-key", transport=qdrant.transport())
    with pytest.raises(QdrantRefused) as refused:
        await ensure_collections(wrong, [spec("manuals")], nodes=1, prune=False)
    await wrong.close()
    assert refused.value.status == 403 and "invalid API key" in str(refused.value)


async def test_a_server_error_propagates_so_the_caller_reports_qdrant_unreachable() -> None:
    unavailable = httpx.MockTransport(lambda request: httpx.Response(503, json={"status": {"error": "starting"}}))
    api = QdrantRest("http://docs-qdrant.search.svc:6333", KEY, transport=unavailable)
    with pytest.raises(httpx.HTTPStatusError):
        await ensure_collections(api, [spec("manuals")], nodes=1, prune=False)
    await api.close()
