"""Providers over HTTP: OpenAI-compatible and Ollama APIs, answers with citations, streaming, retries with
backoff and Retry-After, timeouts, and the circuit breaker, all as the gateway's clients see them."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.gateway.conftest import OLLAMA, OPENAI, Start

CATS = "Cats purr when they are content. A cat sleeps most of the day in a warm sunny spot."
ROCKETS = "Rockets burn liquid fuel with oxygen. A rocket engine produces thrust through its nozzle."


def events(body: str) -> list[tuple[str, Any]]:
    """Parse the gateway's server-sent events."""
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("api", [OPENAI, OLLAMA], ids=["openai", "ollama"])
async def test_embeddings_and_cited_answer_through_provider_apis(start: Start, api: dict[str, str]) -> None:
    async with start(embedding=api, llm=api, embedding_api_key="emb-key", llm_api_key="llm-key") as h:
        h.provider.answer = "Cats purr when content [1], and sleep a lot [1][9]."
        assert (await h.ingest(("cats", CATS), ("rockets", ROCKETS))).status_code == 200
        result = (await h.query("why do cats purr", topK=1)).json()
        assert result["chunks"][0]["documentId"] == "cats"
        assert result["answer"] == "Cats purr when content [1], and sleep a lot [1][9]."
        assert result["citations"] == [1]  # [9] points at no retrieved chunk
        assert result["model"] == "m"
        embed_path, chat_path = (
            ("/v1/embeddings", "/v1/chat/completions") if api is OPENAI else ("/api/embed", "/api/chat")
        )
        embed_calls, chat_calls = h.provider.posts(embed_path), h.provider.posts(chat_path)
        assert embed_calls[0].headers["authorization"] == "Bearer emb-key"
        assert chat_calls[0].headers["authorization"] == "Bearer llm-key"
        prompt = chat_calls[0].body["messages"][-1]["content"]
        assert "[1] (document cats, chunk 0)\n" + CATS in prompt
        assert prompt.endswith("Question: why do cats purr")


@pytest.mark.parametrize("api", [OPENAI, OLLAMA], ids=["openai", "ollama"])
async def test_streamed_answer_is_server_sent_events(start: Start, api: dict[str, str]) -> None:
    async with start(embedding=api, llm=api) as h:
        h.provider.answer = "Cats purr [1]."
        await h.ingest(("cats", CATS))
        response = await h.query("why do cats purr", stream=True, topK=1)
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response.text)
        assert stream[0][0] == "chunks" and stream[0][1]["chunks"][0]["documentId"] == "cats"
        assert [data["text"] for name, data in stream if name == "token"] == ["Cats ", "purr ", "[1]."]
        assert stream[-1] == ("done", {"answer": "Cats purr [1].", "citations": [1], "model": "m"})
        chat_path = "/v1/chat/completions" if api is OPENAI else "/api/chat"
        assert h.provider.posts(chat_path)[0].body["stream"] is True


async def test_provider_failure_mid_stream_ends_with_an_error_event(start: Start) -> None:
    async with start(embedding=OPENAI, llm=OPENAI) as h:
        h.provider.answer = "one two three four"
        h.provider.stream_error_after = 2
        await h.ingest(("cats", CATS))
        stream = events((await h.query("cats", stream=True)).text)
        assert [name for name, _ in stream] == ["chunks", "token", "token", "error"]
        assert stream[-1][1]["status"] == 502


async def test_answer_false_or_no_chunks_skips_the_llm(start: Start) -> None:
    async with start(embedding=OPENAI, llm=OPENAI, retrieval={"scoreThreshold": 0.5}) as h:
        await h.ingest(("cats", CATS))
        assert (await h.query("cats purr", answer=False)).json()["answer"] is None
        assert (await h.query("quantum chromodynamics")).json() == {
            "chunks": [],
            "answer": None,
            "citations": [],
            "model": None,
        }
        assert h.provider.posts("/v1/chat/completions") == []


async def test_embeddings_are_requested_in_batches_of_batch_size(start: Start) -> None:
    async with start(embedding={**OPENAI, "batchSize": 2}, chunking={"strategy": "sentence", "size": 25}) as h:
        text = " ".join(f"Sentence {i} is here." for i in range(5))
        assert (await h.ingest(("doc", text))).json()["chunks"] == 5
        assert [len(r.body["input"]) for r in h.provider.posts("/v1/embeddings")] == [2, 2, 1]


async def test_workers_bound_concurrent_embedding_batches(start: Start) -> None:
    async with start(embedding={**OPENAI, "batchSize": 1}, workers=2) as h:
        response = await h.ingest(*[(f"d{i}", f"Document {i} text.") for i in range(8)])
        assert response.status_code == 200
        assert len(h.provider.posts("/v1/embeddings")) == 8
        assert h.provider.max_in_flight == 2


async def test_only_openai_itself_is_asked_for_dimensions(start: Start) -> None:
    async with start(embedding=OPENAI) as h:
        await h.ingest(("cats", CATS))
        assert "dimensions" not in h.provider.posts("/v1/embeddings")[0].body


async def test_wrong_vector_size_is_reported_not_stored(start: Start) -> None:
    async with start(embedding=OPENAI) as h:
        h.provider.vector_size = 32
        response = await h.ingest(("cats", CATS))
        assert response.status_code == 502
        message = response.json()["error"]["message"]
        assert "size 32" in message and "dimensions is 64" in message


async def test_5xx_is_retried_with_exponential_backoff(start: Start) -> None:
    async with start(embedding=OPENAI, resilience={"retries": 3}) as h:
        h.provider.fail(503, times=2)
        assert (await h.ingest(("cats", CATS))).status_code == 200
        assert len(h.provider.posts("/v1/embeddings")) == 3
        # rand is fixed at 0.5: 3/4 of the capped delay (base 100 ms, then 200 ms).
        assert h.sleep.delays == pytest.approx([0.075, 0.15])
        assert await h.metric("ragops_gateway_provider_requests_total", role="embedding", outcome="http_5xx") == 2
        assert await h.metric("ragops_gateway_provider_requests_total", role="embedding", outcome="success") == 1


async def test_retries_give_up_after_the_configured_count(start: Start) -> None:
    async with start(embedding=OPENAI, resilience={"retries": 2}) as h:
        h.provider.fail(500, times=5)
        response = await h.ingest(("cats", CATS))
        assert response.status_code == 502
        assert response.json()["error"]["message"] == "embedding provider: openai answered HTTP 500"
        assert len(h.provider.posts("/v1/embeddings")) == 3
        assert await h.metric("ragops_gateway_provider_failures_total", role="embedding", reason="http_5xx") == 1


async def test_429_waits_at_least_retry_after(start: Start) -> None:
    async with start(embedding=OPENAI) as h:
        h.provider.fail(429, headers={"Retry-After": "3"})
        assert (await h.ingest(("cats", CATS))).status_code == 200
        assert h.sleep.delays == [3.0]


async def test_retry_after_beyond_the_timeout_is_passed_to_the_client(start: Start) -> None:
    async with start(embedding=OPENAI, resilience={"timeoutSeconds": 5}) as h:
        h.provider.fail(429, headers={"Retry-After": "120"})
        response = await h.ingest(("cats", CATS))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "120"
        assert len(h.provider.posts("/v1/embeddings")) == 1 and h.sleep.delays == []


async def test_client_errors_are_not_retried_and_carry_the_provider_message(start: Start) -> None:
    async with start(embedding=OPENAI) as h:
        h.provider.fail(400, error={"message": "input too long"})
        response = await h.ingest(("cats", CATS))
        assert response.status_code == 502
        assert response.json()["error"]["providerMessage"] == "input too long"
        assert response.json()["error"]["code"] == "provider_bad_response"
        assert len(h.provider.posts("/v1/embeddings")) == 1


async def test_a_hanging_provider_times_out(start: Start) -> None:
    async with start(embedding=OPENAI, resilience={"timeoutSeconds": 1, "retries": 1}) as h:
        h.provider.hang(times=2)
        response = await h.query("cats")
        assert response.status_code == 504
        assert response.json()["error"]["message"] == "embedding provider: openai timed out"
        assert len(h.provider.posts("/v1/embeddings")) == 2


async def test_unreachable_provider_is_retried_then_reported(start: Start) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}/v1"
    async with start(embedding={**OPENAI, "endpoint": endpoint}, real_network=True) as h:
        response = await h.query("cats")
        assert response.status_code == 502
        assert "unreachable" in response.json()["error"]["message"]
        assert len(h.sleep.delays) == 2  # retries: 2
        assert (
            await h.metric("ragops_gateway_provider_requests_total", role="embedding", outcome="connection_error") == 3
        )


async def test_circuit_opens_after_consecutive_failures_and_recovers(start: Start) -> None:
    breaker = {"failureThreshold": 2, "recoverySeconds": 30}
    async with start(embedding=OPENAI, resilience={"retries": 0, "circuitBreaker": breaker}) as h:
        h.provider.fail(503, times=3)
        assert (await h.query("cats")).status_code == 502
        assert (await h.query("cats")).status_code == 502
        calls = len(h.provider.requests)
        refused = await h.query("cats")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "30"
        assert len(h.provider.requests) == calls  # the open circuit spares the provider
        assert await h.metric("ragops_gateway_circuit_state", role="embedding") == 2
        # Degraded, not unready: the pod stays in its Service (probes, deletes and other calls still work).
        ready = await h.client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "circuit open" in ready.json()["components"]["embedding"]["message"]

        h.clock.advance(30)
        assert await h.metric("ragops_gateway_circuit_state", role="embedding") == 1  # half-open
        assert (await h.query("cats")).status_code == 502  # the trial fails (third fault): open again
        assert (await h.query("cats")).status_code == 503
        h.clock.advance(30)
        assert (await h.query("cats")).status_code == 200  # the trial succeeds: closed
        assert (await h.query("cats")).status_code == 200
        assert await h.metric("ragops_gateway_circuit_state", role="embedding") == 0
        assert (await h.client.get("/readyz")).json()["status"] == "ok"


async def test_llm_failures_are_reported_as_such(start: Start) -> None:
    # Hash embeddings with a remote LLM: the only provider call is the chat, so the fault hits it.
    async with start(llm=OPENAI, resilience={"retries": 0}) as h:
        await h.ingest(("cats", CATS))
        h.provider.fail(502)
        response = await h.query("cats purr")
        assert response.status_code == 502
        assert response.json()["error"]["message"] == "llm provider: openai answered HTTP 502"
