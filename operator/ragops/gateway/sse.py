"""Server-sent events as the gateway writes them (`event: <name>` + one JSON `data:` line)."""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
# Proxies (nginx ingress) buffer responses by default, which would hold every token until the end.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Any) -> bytes:
    # json.dumps escapes newlines inside strings, so the payload always fits on the single `data:` line.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
