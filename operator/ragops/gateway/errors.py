"""Exceptions to responses, every one in the API's error shape (see `responses`), with a fitting status.

Invalid requests are 400 (OpenAI's status for them, so its SDK raises BadRequestError), naming each bad
field; this covers bodies that are not JSON or not UTF-8 too, which FastAPI would otherwise answer with a
bare 400 or 422 of its own.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ragops.gateway.providers.errors import ProviderError, ProviderResponseError, ProviderTimeout, ProviderUnavailable
from ragops.gateway.responses import error_body
from ragops.gateway.store import StoreError

log = logging.getLogger("ragops.gateway.api")


class ApiError(Exception):
    """A refusal a route raises with its own code and param (e.g. 404 model_not_found)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api)  # type: ignore[arg-type]
    app.add_exception_handler(ProviderError, _provider)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _store)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


def field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    """Each bad field as {field, message}, e.g. `documents.0.text`. The offending input is not echoed: it
    may be a whole document, and error bodies end up in client logs."""
    fields = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:]
        fields.append({"field": ".".join(location) or "body", "message": str(item.get("msg", "invalid"))})
    return fields


async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    fields = field_errors(error)
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    message = f"invalid request: {first['field']}: {first['message']}"
    if len(fields) > 1:
        message += f" (and {len(fields) - 1} more)"
    body = error_body(400, message, param=first["field"], code="invalid_request", fields=fields)
    return JSONResponse(status_code=400, content=body)


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    status = error.status_code
    return JSONResponse(status_code=status, content=error_body(status, str(error.detail)), headers=error.headers)


async def _api(request: Request, error: ApiError) -> JSONResponse:
    body = error_body(error.status, str(error), code=error.code, param=error.param)
    return JSONResponse(status_code=error.status, content=body)


def provider_code(error: ProviderError) -> str:
    if isinstance(error, ProviderTimeout):
        return "provider_timeout"
    if isinstance(error, ProviderUnavailable):
        return "provider_unavailable"
    if isinstance(error, ProviderResponseError):
        return "provider_bad_response"
    return "provider_error"


async def _provider(request: Request, error: ProviderError) -> JSONResponse:
    extra = {"providerMessage": error.detail} if error.detail else {}
    body = error_body(error.status_code, str(error), code=provider_code(error), **extra)
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return JSONResponse(status_code=error.status_code, content=body, headers=headers)


async def _store(request: Request, error: StoreError) -> JSONResponse:
    return JSONResponse(status_code=503, content=error_body(503, str(error), code="vector_store_unavailable"))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The type only: messages of unexpected errors may quote request data.
    log.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path)
    return JSONResponse(status_code=500, content=error_body(500, "internal error", code="internal_error"))
