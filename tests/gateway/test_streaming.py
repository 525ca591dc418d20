"""Streaming is incremental end to end: the client gets the first token while the LLM is still generating.

The provider runs on a real uvicorn server on 127.0.0.1 (an in-process ASGI transport would hand the gateway
the whole provider response at once), and the gateway is driven at the ASGI level so each body message can
be observed as it is sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from ragops.gateway.app import create_app
from ragops.gateway.config import GatewayConfig, parse_pipeline
from tests.gateway.conftest import manifest
from tests.gateway.fakes import FakeProvider


@pytest.fixture
async def provider() -> AsyncIterator[tuple[FakeProvider, str]]:
    fake = FakeProvider(64)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    yield fake, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task


async def test_tokens_reach_the_client_while_the_llm_is_still_generating(provider: tuple[FakeProvider, str]) -> None:
    fake, endpoint = provider
    fake.answer = "Cats purr [1]."
    fake.stream_gate = asyncio.Event()  # the fake sends its first token, then waits for this
    spec = manifest(llm={"provider": "openai", "endpoint": endpoint, "model": "m"})
    app = create_app(GatewayConfig(pipeline=parse_pipeline(spec)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            document = {"id": "cats", "text": "Cats purr when they are content."}
            assert (await client.post("/v1/documents", json={"documents": [document]})).status_code == 200

        call, sent, disconnected = stream_post(app, "/v1/query", {"query": "why do cats purr", "stream": True})
        received = b""
        async with asyncio.timeout(10):
            while b"event: token" not in received:
                message = await sent.get()
                received += message.get("body", b"")
            assert not fake.stream_gate.is_set()  # the LLM has not finished, yet the client has a token
            assert b"event: done" not in received
            fake.stream_gate.set()
            while True:
                message = await sent.get()
                received += message.get("body", b"")
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    break
            disconnected.set()
            await call
    assert received.startswith(b"event: chunks")
    assert received.endswith(b'event: done\ndata: {"answer":"Cats purr [1].","citations":[1],"model":"m"}\n\n')


async def test_a_chat_stream_is_incremental_and_a_client_that_leaves_ends_the_llm_stream(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, endpoint = provider
    fake.stream_gate = asyncio.Event()  # the fake sends its first token, then waits for this
    spec = manifest(llm={"provider": "openai", "endpoint": endpoint, "model": "m"})
    app = create_app(GatewayConfig(pipeline=parse_pipeline(spec)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            document = {"id": "cats", "text": "Cats purr when they are content."}
            assert (await client.post("/v1/documents", json={"documents": [document]})).status_code == 200

        chat = {"model": "bot", "stream": True, "messages": [{"role": "user", "content": "why do cats purr"}]}
        call, sent, disconnected = stream_post(app, "/v1/chat/completions", chat)
        received = b""
        async with asyncio.timeout(10):
            while b'"content":"Cats "' not in received:
                message = await sent.get()
                received += message.get("body", b"")
            assert b"[DONE]" not in received  # a token arrived while the LLM is still generating
            disconnected.set()  # the client goes away mid-answer
            await call
            while fake.streams_ended == 0:  # the gateway hangs up on the LLM too
                await asyncio.sleep(0.01)
        assert not fake.stream_gate.is_set()


def stream_post(
    app: Any, path: str, payload: dict[str, Any]
) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]], asyncio.Event]:
    """POST `payload` to the ASGI `app` the way a streaming client does: returns the running call, the queue of
    messages it sends, and an event that makes the client disconnect."""
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    requests = iter([{"type": "http.request", "body": json.dumps(payload).encode(), "more_body": False}])
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        message = next(requests, None)
        if message is None:
            await disconnected.wait()
            return {"type": "http.disconnect"}
        return message

    async def send(message: dict[str, Any]) -> None:
        await sent.put(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"gw")],
        "client": ("127.0.0.1", 1),
        "server": ("gw", 80),
    }
    return asyncio.create_task(app(scope, receive, send)), sent, disconnected
