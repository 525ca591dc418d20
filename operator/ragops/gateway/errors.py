"""Every error the API returns is `{"error": "..."}` (plus `fields` for validation), with a fitting status."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ragops.gateway.providers.errors import ProviderError
from ragops.gateway.store import StoreError


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(ProviderError, _provider)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _store)  # type: ignore[arg-type]


async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each bad field (`documents.0.text`). The offending input is not echoed: it may be a whole
    document, and error bodies end up in client logs."""
    fields = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:]
        fields.append({"field": ".".join(location) or "body", "message": str(item.get("msg", "invalid"))})
    return JSONResponse(status_code=422, content={"error": "invalid request", "fields": fields})


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content={"error": str(error.detail)}, headers=error.headers)


async def _provider(request: Request, error: ProviderError) -> JSONResponse:
    content: dict[str, str] = {"error": str(error)}
    if error.detail:
        content["providerMessage"] = error.detail
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return JSONResponse(status_code=error.status_code, content=content, headers=headers)


async def _store(request: Request, error: StoreError) -> JSONResponse:
    return JSONResponse(status_code=503, content={"error": str(error)})
