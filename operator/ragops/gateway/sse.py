"""Server-sent events as the gateway writes them: named events (`event: <name>` + one JSON `data:` line) for
/v1/query, OpenAI's unnamed `data:` events for /v1/chat/completions."""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
# Proxies (nginx ingress) buffer responses by default, which would hold every token until the end.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Any) -> bytes:
    # json.dumps escapes newlines inside strings, so the payload always fits on the single `data:` line.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# OpenAI's stream format: unnamed events, one JSON `data:` line each, and this sentinel at the end.
DONE = b"data: [DONE]\n\n"


def data(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
