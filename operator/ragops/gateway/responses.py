"""The one error body of the whole API, OpenAI's: `{"error": {"message", "type", "param", "code"}}`.

OpenAI-compatible clients (the openai SDK, LangChain, chat UIs) read `error.message` and raise their usual
exception per status (401 AuthenticationError, 429 RateLimitError, 400 BadRequestError...), so the native
endpoints answer in the same shape: one contract, one schema in the OpenAPI. Also sent straight from ASGI
middleware (refusals before any route runs).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send

# OpenAI's own `type` values where one fits; the status code stays the primary signal.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
DEFAULT_CODES = {
    401: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    429: "rate_limit_exceeded",
}


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "param": param,
        "code": code or DEFAULT_CODES.get(status),
    }
    error.update(extra)
    return {"error": error}


async def send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None, *, code: str | None = None
) -> None:
    body = json.dumps(error_body(status, message, code=code)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
