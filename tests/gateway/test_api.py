"""Ingest, query, replace and delete through the API, in laptop mode (hash embedder, in-memory Qdrant)."""

from __future__ import annotations

import uuid

from ragops.gateway.store import point_id
from tests.gateway.conftest import Start

CATS = "Cats purr when they are content. A cat sleeps most of the day in a warm sunny spot."
ROCKETS = "Rockets burn liquid fuel with oxygen. A rocket engine produces thrust through its nozzle."
BREAD = "Bread rises because yeast ferments sugar. Bakers knead the dough before baking bread."


async def test_ingest_then_query_returns_the_matching_chunks(start: Start) -> None:
    async with start() as h:
        response = await h.ingest(("cats", CATS), ("rockets", ROCKETS), ("bread", BREAD))
        assert response.status_code == 200
        assert response.json() == {
            "documents": [{"id": "cats", "chunks": 1}, {"id": "rockets", "chunks": 1}, {"id": "bread", "chunks": 1}],
            "chunks": 3,
        }
        result = (await h.query("how does a rocket engine produce thrust", topK=1)).json()
        assert [c["documentId"] for c in result["chunks"]] == ["rockets"]
        assert result["chunks"][0]["text"] == ROCKETS
        assert result["chunks"][0]["chunkIndex"] == 0
        assert result["answer"] is None and result["citations"] == [] and result["model"] is None


async def test_chunks_follow_the_pipeline_strategy_and_carry_metadata(start: Start) -> None:
    async with start(chunking={"strategy": "sentence", "size": 60, "overlap": 0}) as h:
        response = await h.ingest(("cats", CATS), source="wiki")
        assert response.json()["chunks"] == 2
        hits = (await h.query("warm sunny spot", topK=5)).json()["chunks"]
        assert hits[0] == {
            "documentId": "cats",
            "chunkIndex": 1,
            "text": "A cat sleeps most of the day in a warm sunny spot.",
            "score": hits[0]["score"],
            "metadata": {"source": "wiki"},
        }


async def test_score_threshold_and_top_k_bound_the_results(start: Start) -> None:
    async with start(retrieval={"topK": 2, "scoreThreshold": 0.0}) as h:
        await h.ingest(("cats", CATS), ("rockets", ROCKETS), ("bread", BREAD))
        assert len((await h.query("cat rocket bread", scoreThreshold=-1)).json()["chunks"]) == 2
        assert len((await h.query("cat rocket bread", topK=3, scoreThreshold=-1)).json()["chunks"]) == 3
        # Nothing scores 0.99 against a query sharing one word with each document.
        assert (await h.query("cat rocket bread", topK=3, scoreThreshold=0.99)).json()["chunks"] == []


async def test_metadata_filter_restricts_the_search(start: Start) -> None:
    async with start() as h:
        await h.ingest(("cats-en", CATS), lang="en")
        await h.ingest(("cats-copy", CATS), lang="fr")
        hits = (await h.query("cats purr", topK=5, filter={"lang": "fr"})).json()["chunks"]
        assert [hit["documentId"] for hit in hits] == ["cats-copy"]


async def test_reingesting_a_document_replaces_all_its_chunks(start: Start) -> None:
    async with start(chunking={"strategy": "sentence", "size": 60, "overlap": 0}) as h:
        long_version = " ".join(f"Sentence number {i} talks about zebras and stripes." for i in range(6))
        assert (await h.ingest(("doc", long_version))).json()["chunks"] == 6
        assert (await h.ingest(("doc", "Now the document only mentions penguins."))).json()["chunks"] == 1
        hits = (await h.query("zebras stripes penguins", topK=20, scoreThreshold=-1)).json()["chunks"]
        assert [(hit["documentId"], hit["chunkIndex"], hit["text"]) for hit in hits] == [
            ("doc", 0, "Now the document only mentions penguins.")
        ]


async def test_point_ids_are_deterministic_uuid5(start: Start) -> None:
    assert point_id("doc", 0) == point_id("doc", 0)
    assert point_id("doc", 0) != point_id("doc", 1) != point_id("doc2", 0)
    assert uuid.UUID(point_id("doc", 3)).version == 5
    async with start(chunking={"strategy": "sentence", "size": 60, "overlap": 0}) as h:
        await h.ingest(("cats", CATS))
        points, _ = await h.gateway.store.client.scroll("manuals", limit=10)
        assert sorted(str(p.id) for p in points) == sorted([point_id("cats", 0), point_id("cats", 1)])


async def test_delete_removes_a_document_and_unknown_ids_are_404(start: Start) -> None:
    async with start() as h:
        await h.ingest(("cats", CATS), ("a/b c", ROCKETS))
        response = await h.client.delete("/v1/documents/cats")
        assert response.status_code == 200
        assert response.json() == {"id": "cats", "deletedChunks": 1}
        hits = (await h.query("cats purr", topK=5, scoreThreshold=-1)).json()["chunks"]
        assert [hit["documentId"] for hit in hits] == ["a/b c"]
        again = await h.client.delete("/v1/documents/cats")
        assert again.status_code == 404
        assert again.json() == {"error": "document not found"}
        # Ids with slashes and spaces work when URL-encoded.
        assert (await h.client.delete("/v1/documents/a/b%20c")).status_code == 200
        assert await h.metric("ragops_gateway_documents_deleted_total") == 2


async def test_ingest_metrics_count_documents_and_chunks(start: Start) -> None:
    async with start(chunking={"strategy": "sentence", "size": 60, "overlap": 0}) as h:
        await h.ingest(("cats", CATS), ("bread", BREAD))
        assert await h.metric("ragops_gateway_documents_ingested_total") == 2
        assert await h.metric("ragops_gateway_chunks_ingested_total") == 4
        assert await h.metric("ragops_gateway_requests_total", route="/v1/documents", status="200") == 1


async def test_validation_errors_name_the_field_and_do_not_echo_the_text(start: Start) -> None:
    async with start() as h:
        secret_text = "confidential-body-text " * 3
        cases = [
            ({"documents": [{"id": "", "text": secret_text}]}, "documents.0.id"),
            ({"documents": [{"id": "a", "text": "   "}]}, "documents.0.text"),
            ({"documents": []}, "documents"),
            ({"documents": [{"id": "a", "text": secret_text, "colour": "red"}]}, "documents.0.colour"),
            ({"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": secret_text}]}, "documents"),
        ]
        for body, field in cases:
            response = await h.client.post("/v1/documents", json=body)
            assert response.status_code == 422, body
            assert field in [f["field"] for f in response.json()["fields"]], response.json()
            assert "confidential" not in response.text
        bad_query = await h.query("cats", topK=0)
        assert bad_query.status_code == 422
        assert [f["field"] for f in bad_query.json()["fields"]] == ["topK"]
        not_json = await h.client.post("/v1/query", content=b"{not json", headers={"content-type": "application/json"})
        assert not_json.status_code == 422


async def test_stream_without_llm_sends_chunks_then_done(start: Start) -> None:
    async with start() as h:
        await h.ingest(("cats", CATS))
        response = await h.query("cats", stream=True)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.text.startswith('event: chunks\ndata: {"chunks":[{"documentId":"cats"')
        assert response.text.endswith('event: done\ndata: {"answer":null,"citations":[],"model":null}\n\n')


async def test_openapi_documents_the_api(start: Start) -> None:
    async with start() as h:
        paths = (await h.client.get("/openapi.json")).json()["paths"]
        assert {"/v1/documents", "/v1/documents/{document_id}", "/v1/query", "/healthz", "/readyz"} <= set(paths)
        assert (await h.client.get("/docs")).status_code == 200


async def test_large_documents_are_chunked_and_embedded(start: Start) -> None:
    # Large enough to be split and hashed off the event loop.
    text = " ".join(f"Paragraph {i} mentions walruses and icebergs." for i in range(6000))
    async with start(chunking={"strategy": "recursive", "size": 800, "overlap": 100}) as h:
        response = await h.ingest(("big", text))
        assert response.status_code == 200
        assert response.json()["chunks"] > 300
        hits = (await h.query("walruses icebergs", topK=2)).json()["chunks"]
        assert {hit["documentId"] for hit in hits} == {"big"}
