"""The Qdrant STAND-IN (ragops.standin, NOT Qdrant) that the real node's pods run when no Qdrant binary is given.

Served over real HTTP, it must answer the operator's collections client, the gateway's qdrant-client and the
backup jobs' snapshot client the way the rest of the stack expects, and keep its points across a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import models

from ragops.gateway.store import ChunkStore, DocumentChunks
from ragops.qdrant.client import connect
from ragops.qdrant.collections import QdrantRefused
from ragops.qdrant.rest import QdrantRest
from ragops.qdrant.snapshots import QdrantError, QdrantNode
from ragops.standin.__main__ import load_settings
from ragops.standin.app import STANDIN, Settings, StandIn
from tests.qdrant.double import Server

KEY = "standin-key"
READ_ONLY = "standin-read-only"


def settings(tmp: Path) -> Settings:
    return Settings(http_port=0, storage_path=tmp / "storage", snapshots_path=tmp / "snapshots",
                    api_key=KEY, read_only_api_key=READ_ONLY)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[StandIn, str]]:
    running = StandIn(settings(tmp_path))
    server = Server(running.app())
    yield running, server.url
    server.stop()
    running.client.close()


def vector(seed: int) -> list[float]:
    return [float((seed * 7 + i) % 11) + 1.0 for i in range(4)]


async def test_standin_says_it_is_not_qdrant_and_serves_probes_without_a_key(standin: tuple[StandIn, str]) -> None:
    _, url = standin
    async with httpx.AsyncClient(base_url=url) as http:
        root = (await http.get("/")).json()
        assert root["title"] == STANDIN and "NOT Qdrant" in root["title"]
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/livez")).status_code == 200
        assert (await http.get("/collections")).status_code == 401
        body = {"vectors": {"size": 4, "distance": "Cosine"}}
        denied = await http.put("/collections/x", headers={"api-key": READ_ONLY}, json=body)
        assert denied.status_code == 403


async def test_standin_serves_the_operators_collection_calls(standin: tuple[StandIn, str]) -> None:
    _, url = standin
    rest = QdrantRest(url, KEY)
    await rest.create("manuals", {"vectors": {"size": 384, "distance": "Cosine"}})
    assert await rest.names() == {"manuals"}
    assert (await rest.params("manuals"))["vectors"] == {"size": 384, "distance": "Cosine"}
    with pytest.raises(QdrantRefused) as refused:
        await rest.create("manuals", {"vectors": {"size": 384, "distance": "Cosine"}})
    assert refused.value.status == 409
    await rest.delete("manuals")
    assert await rest.names() == set()
    await rest.close()


async def test_standin_serves_the_gateway_store_and_keeps_points_across_a_restart(tmp_path: Path) -> None:
    first = StandIn(settings(tmp_path))
    server = Server(first.app())
    store = ChunkStore(connect(server.url, KEY), "manuals", dimensions=4)
    await store.ensure_collection()
    await store.replace([DocumentChunks("a", ["alpha one", "alpha two"], [vector(1), vector(2)]),
                         DocumentChunks("b", ["beta"], [vector(3)])])
    hits = await store.search(vector(3), limit=2, threshold=0.0, metadata={})
    assert hits[0].document_id == "b" and hits[0].text == "beta"
    assert await store.delete("a") == 2
    await store.client.close()
    server.stop()
    first.client.close()

    again = StandIn(settings(tmp_path))  # a new pod on the same volume
    server = Server(again.app())
    store = ChunkStore(connect(server.url, KEY), "manuals", dimensions=4)
    await store.ensure_collection()
    hits = await store.search(vector(3), limit=5, threshold=0.0, metadata={})
    assert [(h.document_id, h.text) for h in hits] == [("b", "beta")]
    await store.client.close()
    server.stop()
    again.client.close()


async def test_standin_snapshot_round_trip_restores_the_same_points(
    standin: tuple[StandIn, str], tmp_path: Path
) -> None:
    running, url = standin
    params = models.VectorParams(size=4, distance=models.Distance.COSINE)
    running.client.create_collection("docs", vectors_config=params)
    running.client.upsert("docs", [models.PointStruct(id=i, vector=vector(i), payload={"n": i}) for i in range(1, 6)])
    async with QdrantNode(url, KEY) as node:
        assert (await node.version())
        snapshot = await node.create_snapshot("docs")
        assert [s.name for s in await node.list_snapshots("docs")] == [snapshot.name]
        file = tmp_path / snapshot.name
        async with node.download("docs", snapshot.name) as chunks:
            file.write_bytes(b"".join([chunk async for chunk in chunks]))
        assert snapshot.checksum and len(file.read_bytes()) == snapshot.size
        running.client.delete("docs", models.PointIdsList(points=[1, 2, 3]))
        assert await node.count("docs") == 2
        with pytest.raises(QdrantError, match="checksum"):
            await node.recover("docs", file, checksum="0" * 64)
        await node.recover("docs", file, checksum=snapshot.checksum)
        assert await node.count("docs") == 5
        await node.delete_snapshot("docs", snapshot.name)
        assert await node.list_snapshots("docs") == []
    payloads = sorted(r.payload["n"] for r in running.client.scroll("docs", limit=10)[0] if r.payload)
    assert payloads == [1, 2, 3, 4, 5]


def test_standin_reads_qdrants_config_files_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("service: {http_port: 1111}\nstorage: {storage_path: /a}\n")
    (tmp_path / "production.yaml").write_text("service: {http_port: 6333}\nstorage: {snapshots_path: /s}\n")
    loaded = load_settings(tmp_path, {"QDRANT__SERVICE__API_KEY": "k", "RUN_MODE": "production"})
    assert (loaded.http_port, str(loaded.storage_path), str(loaded.snapshots_path), loaded.api_key) == (
        6333, "/a", "/s", "k")


async def test_standin_is_one_peer_with_one_shard_and_round_trips_shard_snapshots(
    standin: tuple[StandIn, str], tmp_path: Path
) -> None:
    """The backup jobs' shard snapshots (format 2): one peer, shard 0 Active; recovering shard 0 replaces the
    collection's points and keeps its configuration."""
    running, url = standin
    params = models.VectorParams(size=4, distance=models.Distance.DOT)
    running.client.create_collection("docs", vectors_config=params)
    running.client.upsert("docs", [models.PointStruct(id=i, vector=vector(i), payload={"n": i}) for i in range(1, 4)])
    async with QdrantNode(url, KEY) as node:
        info = await node.cluster("docs")
        assert (info.shard_count, [(s.shard_id, s.points_count, s.state.value) for s in info.local_shards]) == (
            1, [(0, 3, "Active")])
        snapshot = await node.create_shard_snapshot("docs", 0)
        file = tmp_path / snapshot.name
        async with node.download_shard("docs", 0, snapshot.name) as chunks:
            file.write_bytes(b"".join([chunk async for chunk in chunks]))
        await node.delete_shard_snapshot("docs", 0, snapshot.name)
        running.client.upsert("docs", [models.PointStruct(id=9, vector=vector(9), payload={"n": 9})])
        await node.recover_shard("docs", 0, file, checksum=snapshot.checksum)
        assert await node.count("docs") == 3
        with pytest.raises(QdrantError, match="single node"):
            await node.cluster_operation("docs", {"drop_replica": {"shard_id": 0, "peer_id": 1}})
    assert running.client.get_collection("docs").config.params.vectors == params
