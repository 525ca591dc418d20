"""What the gateway refuses: missing keys, foreign origins, excess rate, oversized bodies; and what it never
writes to its logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from tests.gateway.conftest import OPENAI, Start

KEY = "gw-key-3f9c2a"
CATS = "Cats purr when they are content."


async def test_api_key_is_required_on_the_api_but_not_on_probes(start: Start) -> None:
    async with start(api_key=KEY) as h:
        body = {"query": "cats"}
        missing = await h.client.post("/v1/query", json=body)
        assert missing.status_code == 401
        assert missing.json() == {
            "error": {
                "message": "missing or invalid API key",
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert missing.headers["www-authenticate"] == "Bearer"
        for headers in ({"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": KEY}):
            assert (await h.client.post("/v1/query", json=body, headers=headers)).status_code == 401
        assert (await h.client.post("/v1/query", json=body, headers={"Authorization": f"Bearer {KEY}"})).is_success
        assert (await h.client.post("/v1/query", json=body, headers={"X-API-Key": KEY})).is_success
        assert (await h.client.delete("/v1/documents/x")).status_code == 401
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await h.client.get(path)).status_code == 200, path
        assert await h.metric("ragops_gateway_requests_total", route="/v1/query", status="401") == 4


async def test_without_a_key_auth_is_off_and_says_so(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ragops.gateway"):
        async with start() as h:
            assert (await h.query("cats")).status_code == 200
    assert "authentication is OFF" in caplog.text


async def test_cors_allows_only_the_configured_origins(start: Start) -> None:
    async with start(api_key=KEY, gateway={"cors": {"allowedOrigins": ["https://app.example.com"]}}) as h:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await h.client.options("/v1/query", headers={"Origin": "https://app.example.com", **preflight})
        assert allowed.status_code == 200  # answered before auth: browsers send preflights without keys
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        # The OpenAI SDKs' own headers pass a preflight too (a browser chat app on an allowed origin).
        sdk = {**preflight, "Access-Control-Request-Headers": "authorization, x-stainless-os, content-type"}
        chat = await h.client.options("/v1/chat/completions", headers={"Origin": "https://app.example.com", **sdk})
        assert chat.status_code == 200
        foreign = await h.client.options("/v1/query", headers={"Origin": "https://evil.example.com", **preflight})
        assert "access-control-allow-origin" not in foreign.headers
        simple = await h.client.post(
            "/v1/query", json={"query": "cats"}, headers={"Origin": "https://app.example.com", "X-API-Key": KEY}
        )
        assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
        # Refusals carry CORS headers too, so the browser app can read the 401.
        refused = await h.client.post("/v1/query", json={"query": "c"}, headers={"Origin": "https://app.example.com"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_no_cors_headers_when_no_origin_is_configured(start: Start) -> None:
    async with start() as h:
        response = await h.client.post("/v1/query", json={"query": "cats"}, headers={"Origin": "https://a.example"})
        assert "access-control-allow-origin" not in response.headers


async def test_rate_limit_is_a_token_bucket_with_retry_after(start: Start) -> None:
    async with start(gateway={"rateLimit": {"requestsPerSecond": 2}}) as h:
        assert (await h.query("cats")).status_code == 200
        assert (await h.query("cats")).status_code == 200
        limited = await h.query("cats")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["message"] == "rate limit exceeded"
        assert limited.json()["error"]["type"] == "rate_limit_error"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await h.client.get(path)).status_code == 200, path  # probes are never limited
        h.clock.advance(0.5)  # one token back at 2/s
        assert (await h.query("cats")).status_code == 200
        assert (await h.query("cats")).status_code == 429
        h.clock.advance(10)  # the bucket holds at most one second's worth
        assert [(await h.query("cats")).status_code for _ in range(3)] == [200, 200, 429]


async def test_rate_limit_off_by_default(start: Start) -> None:
    async with start() as h:
        assert {(await h.query("cats")).status_code for _ in range(30)} == {200}


async def test_oversized_bodies_are_refused_with_413(start: Start) -> None:
    async with start(gateway={"maxRequestBytes": 2048}) as h:
        big = {"documents": [{"id": "big", "text": "x" * 4096}]}
        response = await h.client.post("/v1/documents", json=big)
        assert response.status_code == 413
        assert "gateway.maxRequestBytes" in response.json()["error"]["message"]

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
            yield b'{"documents": [{"id": "big", "text": "'
            for _ in range(8):
                yield b"y" * 512
            yield b'"}]}'

        streamed = await h.client.post("/v1/documents", content=chunked(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        small = await h.client.post("/v1/documents", json={"documents": [{"id": "ok", "text": "x" * 1000}]})
        assert small.status_code == 200
        assert await h.metric("ragops_gateway_documents_ingested_total") == 1


async def test_logs_hold_no_keys_and_no_document_text(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    secret_text = "Top secret merger plans for ACME"
    with caplog.at_level(logging.DEBUG):
        async with start(
            api_key=KEY, embedding=OPENAI, llm=OPENAI, embedding_api_key="emb-secret", llm_api_key="llm-secret"
        ) as h:
            headers = {"X-API-Key": KEY}
            docs = {"documents": [{"id": "d", "text": secret_text}]}
            assert (await h.client.post("/v1/documents", json=docs, headers=headers)).status_code == 200
            h.provider.fail(503)  # a retried failure
            h.provider.fail(400, error={"message": f"cannot embed: {secret_text}"})  # a provider echoing input
            assert (await h.client.post("/v1/documents", json=docs, headers=headers)).status_code == 502
            assert (await h.client.post("/v1/query", json={"query": secret_text}, headers=headers)).status_code == 200
            await h.client.post("/v1/query", json={"query": secret_text}, headers={"X-API-Key": "wrong-key"})
    # The failures themselves are logged...
    assert "embedding provider openai: attempt 1 failed: http_5xx" in caplog.text
    assert "embedding provider openai: HTTP 400 (not retried)" in caplog.text
    for secret in (KEY, "emb-secret", "llm-secret", "wrong-key", secret_text, "merger"):
        assert secret not in caplog.text, secret  # ...but never a key or the text
