"""ensure_collections against qdrant-client's local mode (`:memory:`).

Local mode keeps vector size, distance and on_disk, but ignores shard_number and replication_factor and
does not apply vector diffs on update. Distributed rules are covered in test_plan.py; here a recorder
wraps the client to see every write, and applies on_disk diffs the way Qdrant would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.client import connect
from ragops.qdrant.collections import IMMUTABLE, READY, ensure_collections


class Recorder:
    """Records the write calls made on a local-mode client (reads are not recorded)."""

    def __init__(self, client: AsyncQdrantClient) -> None:
        self.client = client
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        for name in ("create_collection", "update_collection", "delete_collection"):
            setattr(client, name, self._wrap(name, getattr(client, name)))

    def _wrap(self, name: str, real: Any) -> Any:
        async def call(collection_name: str, **kwargs: Any) -> Any:
            self.writes.append((name, collection_name, kwargs))
            result = await real(collection_name, **kwargs)
            if name == "update_collection" and kwargs.get("vectors_config"):
                # Local mode ignores vector diffs; apply on_disk like a real Qdrant so the next pass sees it.
                local = self.client._client.collections[collection_name]  # type: ignore[attr-defined]
                local.config.vectors.on_disk = kwargs["vectors_config"][""].on_disk
            return result

        return call

    def take(self) -> list[tuple[str, str, dict[str, Any]]]:
        writes, self.writes = self.writes, []
        return writes


@pytest.fixture
async def client() -> AsyncIterator[AsyncQdrantClient]:
    qdrant = connect(":memory:", None)
    yield qdrant
    await qdrant.close()


def spec(name: str, size: int = 4, **fields: Any) -> CollectionSpec:
    return CollectionSpec.model_validate({"name": name, "vectorSize": size, **fields})


async def test_creates_missing_collections_with_declared_vectors(client: AsyncQdrantClient) -> None:
    report = await ensure_collections(
        client, [spec("manuals", 8, distance="Dot", onDisk=True), spec("faq")], nodes=1, prune=False
    )

    assert report.ready and report.reason == READY and report.present == ["faq", "manuals"]
    vectors = (await client.get_collection("manuals")).config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert (vectors.size, vectors.distance, vectors.on_disk) == (8, models.Distance.DOT, True)


async def test_second_pass_in_sync_writes_nothing_and_keeps_its_message(client: AsyncQdrantClient) -> None:
    desired = [spec("manuals"), spec("faq", onDisk=True)]
    recorder = Recorder(client)
    first = await ensure_collections(client, desired, nodes=1, prune=True)
    assert [w[0] for w in recorder.take()] == ["create_collection", "create_collection"]

    second = await ensure_collections(client, desired, nodes=1, prune=True)

    assert recorder.take() == []
    assert second == first


async def test_on_disk_is_updated_live_then_in_sync(client: AsyncQdrantClient) -> None:
    recorder = Recorder(client)
    await ensure_collections(client, [spec("manuals")], nodes=1, prune=False)
    recorder.take()

    report = await ensure_collections(client, [spec("manuals", onDisk=True)], nodes=1, prune=False)

    assert report.ready
    [(call, name, kwargs)] = recorder.take()
    assert (call, name) == ("update_collection", "manuals")
    assert kwargs["vectors_config"] == {"": models.VectorParamsDiff(on_disk=True)}
    assert kwargs["collection_params"] is None
    await ensure_collections(client, [spec("manuals", onDisk=True)], nodes=1, prune=False)
    assert recorder.take() == []


async def test_immutable_mismatch_is_reported_not_applied(client: AsyncQdrantClient) -> None:
    await ensure_collections(client, [spec("manuals", 4), spec("faq")], nodes=1, prune=False)
    recorder = Recorder(client)

    report = await ensure_collections(
        client, [spec("manuals", 768, distance="Euclid"), spec("faq"), spec("new")], nodes=1, prune=False
    )

    assert not report.ready and report.reason == IMMUTABLE
    assert "collection manuals: vectorSize is 4 in Qdrant but 768 is wanted" in report.message
    assert "distance is Cosine in Qdrant but Euclid is wanted" in report.message
    assert "create a new collection" in report.message
    assert "faq" not in report.message
    # The mismatching collection is left alone; the missing one is still created.
    assert [(w[0], w[1]) for w in recorder.take()] == [("create_collection", "new")]
    vectors = (await client.get_collection("manuals")).config.params.vectors
    assert isinstance(vectors, models.VectorParams) and vectors.size == 4


async def test_named_vectors_are_reported(client: AsyncQdrantClient) -> None:
    await client.create_collection("multi", vectors_config={"text": models.VectorParams(size=4, distance="Cosine")})

    report = await ensure_collections(client, [spec("multi")], nodes=1, prune=False)

    assert not report.ready and report.reason == IMMUTABLE
    assert "named vectors ['text']" in report.message


async def test_undeclared_collections_survive_without_prune(client: AsyncQdrantClient) -> None:
    await ensure_collections(client, [spec("manuals"), spec("old")], nodes=1, prune=False)

    report = await ensure_collections(client, [spec("manuals")], nodes=1, prune=False)

    assert report.ready and report.present == ["manuals", "old"]
    assert await client.collection_exists("old")


async def test_prune_deletes_only_undeclared_collections(client: AsyncQdrantClient) -> None:
    await ensure_collections(client, [spec("manuals"), spec("old"), spec("older")], nodes=1, prune=False)

    report = await ensure_collections(client, [spec("manuals")], nodes=1, prune=True)

    assert report.ready and report.present == ["manuals"]
    assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]


async def test_distributed_store_creates_with_shard_and_replication_defaults(client: AsyncQdrantClient) -> None:
    recorder = Recorder(client)

    await ensure_collections(client, [spec("a"), spec("b", shardNumber=6, replicationFactor=3)], nodes=3, prune=False)

    created = {name: kwargs for _, name, kwargs in recorder.take()}
    assert (created["a"]["shard_number"], created["a"]["replication_factor"]) == (3, 2)
    assert (created["b"]["shard_number"], created["b"]["replication_factor"]) == (6, 3)


async def test_a_refused_create_is_reported_and_others_still_handled(client: AsyncQdrantClient) -> None:
    real = client.create_collection

    async def create(collection_name: str, **kwargs: Any) -> bool:
        if collection_name == "bad":  # what Qdrant answers to e.g. an impossible shard layout
            body = b'{"status": {"error": "Bad request: shard_number is too large"}, "time": 0.0}'
            raise UnexpectedResponse(400, "Bad Request", body, httpx.Headers())
        return await real(collection_name, **kwargs)

    client.create_collection = create  # type: ignore[method-assign,assignment]

    report = await ensure_collections(client, [spec("bad"), spec("good")], nodes=1, prune=False)

    assert not report.ready and report.reason == "CollectionRejected"
    assert report.message == "collection bad: Qdrant refused the change (Bad request: shard_number is too large)"
    assert report.present == ["good"]
