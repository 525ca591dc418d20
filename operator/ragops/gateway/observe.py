"""Request metrics as the outermost middleware, so refusals (401, 413, 429) and crashes are counted too."""

from __future__ import annotations

import time

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.gateway.metrics import GatewayMetrics

UNMATCHED = "other"


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        method = scope["method"]
        started = time.perf_counter()
        status = 500  # what the client gets if the app crashes before answering

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Time to the response start: for streams that is time to first byte, not the answer's length.
                self.metrics.request_duration.labels(route, method).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self.metrics.requests.labels(route, method, str(status)).inc()

    def _route(self, scope: Scope) -> str:
        """The route template (bounded label values), matched here because refusals never reach routing."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:  # PARTIAL: right path, wrong method (405): same template
                # path_format drops converters: /v1/documents/{document_id}, not {document_id:path}.
                return str(getattr(route, "path_format", getattr(route, "path", UNMATCHED)))
        return UNMATCHED
