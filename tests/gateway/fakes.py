"""Test doubles: a provider server speaking the OpenAI-compatible and Ollama HTTP APIs, a clock, a sleep."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragops.gateway.providers.hashing import HashEmbedder


@dataclass
class Fault:
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"error": {"message": "injected failure"}})
    hang: bool = False  # never answer (the caller's timeout must fire)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


class FakeProvider:
    """One server for both APIs. Faults are consumed one per request, in order, by the POST endpoints."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.vector_size = dimensions  # set differently to simulate a model of another size
        self.embedder = HashEmbedder(dimensions)
        self.answer = "Cats purr when they are content [1]."
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.models_status = 200
        self.stream_error_after: int | None = None  # tokens before the stream reports an error
        # Released by a test to let a streamed answer finish (the streaming test reads tokens before that).
        self.stream_gate: asyncio.Event | None = None
        self.streams_ended = 0  # OpenAI streams that finished or were broken off by the client
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = Starlette(
            routes=[
                Route("/v1/embeddings", self._openai_embeddings, methods=["POST"]),
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/api/embed", self._ollama_embed, methods=["POST"]),
                Route("/api/chat", self._ollama_chat, methods=["POST"]),
                Route("/api/tags", self._models, methods=["GET"]),
            ]
        )

    def fail(self, status: int = 503, times: int = 1, headers: dict[str, str] | None = None, **body: Any) -> None:
        for _ in range(times):
            fault = Fault(status=status, headers=headers or {})
            if body:
                fault.body = body
            self.faults.append(fault)

    def hang(self, times: int = 1) -> None:
        self.faults.extend(Fault(hang=True) for _ in range(times))

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def _record(self, request: Request) -> tuple[Any, Response | None]:
        body = await request.json() if request.method == "POST" else None
        self.requests.append(Recorded(request.url.path, dict(request.headers), body))
        if not self.faults:
            return body, None
        fault = self.faults.popleft()
        if fault.hang:
            await asyncio.Event().wait()
        return body, JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)

    async def _vectors(self, texts: list[str]) -> list[list[float]]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(5):
                await asyncio.sleep(0)  # yield, so concurrent batches overlap here
            vectors = [self.embedder.vector(text) for text in texts]
            return [(v + [0.0] * self.vector_size)[: self.vector_size] for v in vectors]
        finally:
            self.in_flight -= 1

    async def _openai_embeddings(self, request: Request) -> Response:
        body, fault = await self._record(request)
        if fault:
            return fault
        vectors = await self._vectors(body["input"])
        # Reversed on purpose: clients must order by `index`, not by position.
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)][::-1]
        return JSONResponse({"object": "list", "data": data, "model": body["model"]})

    async def _ollama_embed(self, request: Request) -> Response:
        body, fault = await self._record(request)
        if fault:
            return fault
        return JSONResponse({"model": body["model"], "embeddings": await self._vectors(body["input"])})

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"data": []}, status_code=self.models_status)

    def _pieces(self) -> list[str]:
        words = self.answer.split(" ")
        return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]

    async def _openai_chat(self, request: Request) -> Response:
        body, fault = await self._record(request)
        if fault:
            return fault
        if not body.get("stream"):
            message = {"role": "assistant", "content": self.answer}
            return JSONResponse({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

        async def events() -> AsyncIterator[bytes]:
            try:
                for i, piece in enumerate(self._pieces()):
                    if self.stream_error_after is not None and i == self.stream_error_after:
                        yield b'data: {"error": {"message": "model crashed"}}\n\n'
                        return
                    chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                    if i == 0 and self.stream_gate is not None:
                        await self.stream_gate.wait()
                yield b"data: [DONE]\n\n"
            finally:
                self.streams_ended += 1

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _ollama_chat(self, request: Request) -> Response:
        body, fault = await self._record(request)
        if fault:
            return fault
        if not body.get("stream"):
            return JSONResponse({"message": {"role": "assistant", "content": self.answer}, "done": True})

        async def lines() -> AsyncIterator[bytes]:
            for piece in self._pieces():
                yield (json.dumps({"message": {"role": "assistant", "content": piece}, "done": False}) + "\n").encode()
            yield (json.dumps({"message": {"role": "assistant", "content": ""}, "done": True}) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Stands in for asyncio.sleep: records the delay, yields once, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)
