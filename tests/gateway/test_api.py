"""Ingest, query, replace and delete through the API, in laptop mode (hash embedder, in-memory Qdrant)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

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
        assert again.json() == {
            "error": {"message": "document not found", "type": "not_found_error", "param": None, "code": "not_found"}
        }
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
            assert response.status_code == 400, body
            error = response.json()["error"]
            assert field in [f["field"] for f in error["fields"]], error
            assert error["type"] == "invalid_request_error" and error["param"] == error["fields"][0]["field"]
            assert "confidential" not in response.text
        bad_query = await h.query("cats", topK=0)
        assert bad_query.status_code == 400
        assert [f["field"] for f in bad_query.json()["error"]["fields"]] == ["topK"]
        assert bad_query.json()["error"]["message"].startswith("invalid request: topK: ")


async def test_bodies_that_are_not_json_or_not_utf8_are_400_in_the_error_shape(start: Start) -> None:
    async with start() as h:
        json_type = {"content-type": "application/json"}
        for content in (b"{not json", b'{"query": "caf\xe9"}', b"", b"[1, 2]"):
            response = await h.client.post("/v1/query", content=content, headers=json_type)
            assert response.status_code == 400, content
            assert response.json()["error"]["type"] == "invalid_request_error", content


async def test_a_float_filter_value_matches_instead_of_failing(start: Start) -> None:
    async with start() as h:
        await h.ingest(("v2", CATS), version=2.5)
        await h.ingest(("v3", CATS), version=3)
        hits = (await h.query("cats", filter={"version": 2.5})).json()["chunks"]
        assert [hit["documentId"] for hit in hits] == ["v2"]
        hits = (await h.query("cats", filter={"version": 3.0})).json()["chunks"]  # JSON: 3.0 is 3
        assert [hit["documentId"] for hit in hits] == ["v3"]


async def test_ids_that_a_url_cannot_carry_are_refused_at_ingest(start: Start) -> None:
    async with start() as h:
        for bad in ("line\nbreak", "tab\there", "nul\x00", "del\x7f", ".", "..", "a/../b", "./a"):
            response = await h.ingest((bad, CATS))
            assert response.status_code == 400, repr(bad)
            assert response.json()["error"]["param"] == "documents.0.id", repr(bad)
        # Everything else an id may hold round-trips through the URL (encoded).
        odd = "dir/file name.md?v=1#top%20ü"
        assert (await h.ingest((odd, CATS))).status_code == 200
        assert (await h.client.delete(f"/v1/documents/{quote(odd, safe='/')}")).status_code == 200
        assert (await h.query("cats")).json()["chunks"] == []


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
