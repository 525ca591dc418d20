"""Probes: /healthz always answers; /health and /readyz report each component and fail only without Qdrant;
/metrics is per app."""

from __future__ import annotations

import socket
from typing import Any

from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models

from ragops.gateway.store import ChunkStore, StoreError
from tests.gateway.conftest import OLLAMA, OPENAI, Start


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_ready_in_laptop_mode_with_each_component_and_its_latency(start: Start) -> None:
    async with start() as h:
        for path in ("/readyz", "/health"):
            response = await h.client.get(path)
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "ok"
            assert set(body["components"]) == {"qdrant", "embedding", "llm"}
            for name in ("qdrant", "embedding"):
                assert body["components"][name]["status"] == "ok"
                assert body["components"][name]["latencyMs"] >= 0
            assert body["components"]["llm"] == {
                "status": "disabled",
                "latencyMs": None,
                "message": "no answering model (spec.llm absent or none)",
            }
        assert (await h.client.get("/healthz")).json() == {"status": "ok"}
        assert await h.metric("ragops_gateway_component_up", component="qdrant") == 1


async def test_unreachable_qdrant_is_not_ready_but_alive(start: Start) -> None:
    async with start(qdrant_url=f"http://127.0.0.1:{closed_port()}") as h:
        for path in ("/readyz", "/health"):
            response = await h.client.get(path)
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable"
            assert response.json()["components"]["qdrant"]["status"] == "down"
            assert "vector store unreachable" in response.json()["components"]["qdrant"]["message"]
        assert await h.metric("ragops_gateway_component_up", component="qdrant") == 0
        assert (await h.client.get("/healthz")).status_code == 200
        ingest = await h.ingest(("d", "some text"))
        assert ingest.status_code == 503
        assert "vector store unreachable" in ingest.json()["error"]["message"]


async def test_readiness_recreates_a_missing_collection(start: Start) -> None:
    async with start() as h:
        await h.gateway.store.client.delete_collection("manuals")
        assert (await h.client.get("/readyz")).status_code == 200
        assert await h.gateway.store.client.collection_exists("manuals")


async def test_created_collection_uses_cosine_and_the_embedding_dimensions(start: Start) -> None:
    async with start(embedding={"dimensions": 48}) as h:
        info = await h.gateway.store.client.get_collection("manuals")
        assert info.config.params.vectors == models.VectorParams(size=48, distance=models.Distance.COSINE)


async def test_a_collection_of_another_size_is_reported() -> None:
    client = AsyncQdrantClient(location=":memory:")
    await client.create_collection("manuals", vectors_config=models.VectorParams(size=8, distance="Cosine"))
    store = ChunkStore(client, "manuals", 64, local=True)
    try:
        await store.ensure_collection()
    except StoreError as error:
        assert str(error) == "collection manuals holds vectors of size 8, but spec.embedding.dimensions is 64"
    else:
        raise AssertionError("a size mismatch must not pass")


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {name: component["status"] for name, component in body["components"].items()}


async def test_a_provider_outage_degrades_but_keeps_the_pod_serving(start: Start) -> None:
    async with start(embedding=OPENAI, llm=OLLAMA) as h:
        assert statuses((await h.client.get("/health")).json()) == {"qdrant": "ok", "embedding": "ok", "llm": "ok"}
        assert [r.path for r in h.provider.requests if r.path in ("/v1/models", "/api/tags")] == [
            "/v1/models",
            "/api/tags",
        ]
        h.provider.models_status = 401
        response = await h.client.get("/readyz")
        assert response.status_code == 200  # still in the Service
        assert response.json()["status"] == "degraded"
        embedding = response.json()["components"]["embedding"]
        assert embedding["status"] == "down"
        assert embedding["message"] == "embedding provider openai rejected the API key (HTTP 401)"
        assert await h.metric("ragops_gateway_component_up", component="embedding") == 0
        h.provider.models_status = 404  # a live server without a model list (some compatible servers)
        assert (await h.client.get("/readyz")).json()["status"] == "ok"
        assert await h.metric("ragops_gateway_component_up", component="embedding") == 1

    async with start(llm={**OPENAI, "endpoint": f"http://127.0.0.1:{closed_port()}/v1"}, real_network=True) as h:
        response = await h.client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert statuses(response.json()) == {"qdrant": "ok", "embedding": "ok", "llm": "down"}
        assert "unreachable" in response.json()["components"]["llm"]["message"]
        assert await h.metric("ragops_gateway_component_up", component="llm") == 0
        # Retrieval keeps serving without the LLM: chunks come back, the answer fails on its own.
        await h.ingest(("cats", "Cats purr when they are content."))
        retrieved = await h.query("cats", answer=False)
        assert retrieved.status_code == 200 and retrieved.json()["chunks"]
        assert (await h.query("cats")).status_code == 502


async def test_each_app_has_its_own_metrics(start: Start) -> None:
    async with start() as first, start() as second:
        await first.query("cats")
        await first.query("cats")
        await second.query("cats")
        assert await first.metric("ragops_gateway_requests_total", route="/v1/query", method="POST") == 2
        assert await second.metric("ragops_gateway_requests_total", route="/v1/query", method="POST") == 1
        assert await first.metric("ragops_gateway_request_duration_seconds_count", route="/v1/query") == 2
        assert await first.metric("ragops_gateway_queries_total", mode="retrieve") == 2
        # Unknown paths share one label value: scanners cannot blow up the series count.
        await first.client.get("/wp-admin/1")
        await first.client.get("/wp-admin/2")
        assert await first.metric("ragops_gateway_requests_total", route="other", status="404") == 2


class IndexSpy(AsyncQdrantClient):
    """Local mode, recording payload-index requests (local mode itself ignores indexes)."""

    def __init__(self) -> None:
        super().__init__(location=":memory:")
        self.indexed: list[str] = []

    async def create_payload_index(self, collection_name: str, field_name: str, **kwargs: object) -> object:  # type: ignore[override]
        self.indexed.append(f"{collection_name}.{field_name}")
        return None


async def test_against_a_server_document_id_gets_a_payload_index() -> None:
    created = IndexSpy()
    await ChunkStore(created, "fresh", 8, local=False).ensure_collection()
    existing = IndexSpy()  # e.g. created by the operator, which knows nothing of gateway payloads
    await existing.create_collection("manuals", vectors_config=models.VectorParams(size=8, distance="Cosine"))
    await ChunkStore(existing, "manuals", 8, local=False).ensure_collection()
    assert created.indexed == ["fresh.document_id"]
    assert existing.indexed == ["manuals.document_id"]
