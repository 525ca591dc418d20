"""The gateway in-process (as in tests/gateway) against a real Qdrant: ingest, replace, delete, query,
readiness, and a collection the operator created first (on one node and on a 3-node cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from ragops.gateway.app import create_app
from ragops.gateway.config import GatewayConfig, parse_pipeline
from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.collections import ensure_collections
from ragops.qdrant.rest import QdrantRest
from tests.gateway.conftest import DIMENSIONS, GATEWAY_URL, manifest
from tests.real_qdrant.conftest import request
from tests.real_qdrant.server import API_KEY, Cluster

CATS = "Cats purr when they are content. A cat sleeps most of the day in a warm sunny spot."
ROCKETS = "Rockets burn liquid fuel with oxygen. A rocket engine produces thrust through its nozzle."
BREAD = "Bread rises because yeast ferments sugar. Bakers knead the dough before baking bread."


@asynccontextmanager
async def gateway(url: str, api_key: str | None = API_KEY) -> AsyncIterator[httpx.AsyncClient]:
    config = GatewayConfig(pipeline=parse_pipeline(manifest()), qdrant_url=url, qdrant_api_key=api_key)
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL) as client:
        yield client


async def ingest(client: httpx.AsyncClient, *documents: tuple[str, str]) -> httpx.Response:
    return await client.post("/v1/documents", json={"documents": [{"id": i, "text": t} for i, t in documents]})


async def top(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.post("/v1/query", json={"query": query, "topK": 1})
    assert response.status_code == 200, response.text
    return [chunk["documentId"] for chunk in response.json()["chunks"]]


async def test_ingest_replace_delete_query_and_readiness(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=1)
    async with gateway(cluster.urls[0]) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await ingest(client, ("cats", CATS), ("rockets", ROCKETS), ("bread", BREAD))).status_code == 200
        assert await top(client, "how does a rocket engine produce thrust") == ["rockets"]
        # The payload index the gateway filters on exists in the real server.
        schema = request(cluster, "GET", "/collections/manuals")["payload_schema"]
        assert "document_id" in schema

        # Replacing a document with a shorter text drops its old chunks.
        assert (await ingest(client, ("rockets", BREAD))).status_code == 200
        count = request(cluster, "POST", "/collections/manuals/points/count", json={"exact": True})["count"]
        assert count == 3
        assert (await client.delete("/v1/documents/cats")).status_code == 200
        count = request(cluster, "POST", "/collections/manuals/points/count", json={"exact": True})["count"]
        assert count == 2
        assert await top(client, "cats purr when content") != ["cats"]

        # Qdrant gone: readiness fails.
        cluster.nodes[0].stop()
        assert (await client.get("/readyz")).status_code == 503


async def test_on_a_cluster_the_gateway_uses_the_collection_the_operator_made(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=3)
    api = QdrantRest(cluster.urls[0], API_KEY)
    declared = CollectionSpec.model_validate({"name": "manuals", "vectorSize": DIMENSIONS, "shardNumber": 3})
    assert (await ensure_collections(api, [declared], nodes=3, prune=False)).ready
    await api.close()

    async with gateway(cluster.urls[2]) as client:
        assert (await ingest(client, ("cats", CATS), ("rockets", ROCKETS), ("bread", BREAD))).status_code == 200
        assert await top(client, "yeast ferments sugar") == ["bread"]
    # Written through node 2, readable through every node, shards as the operator declared them.
    for node in range(3):
        assert (
            request(cluster, "POST", "/collections/manuals/points/count", node=node, json={"exact": True})["count"] == 3
        )
    assert request(cluster, "GET", "/collections/manuals")["config"]["params"]["shard_number"] == 3
