"""The operator's Qdrant client for collections: Qdrant's REST API over httpx, in plain JSON.

qdrant-client would do, but importing its generated models costs the operator about 50 MB for five calls.
The gateway and the backup jobs, separate processes, keep using qdrant-client.
"""

from __future__ import annotations

from typing import Any

import httpx

from ragops.qdrant.collections import QdrantRefused


class QdrantRest:
    """`CollectionsApi` over Qdrant's documented REST endpoints; the API key goes in the `api-key` header."""

    def __init__(
        self, url: str, api_key: str | None, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        headers = {"api-key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, transport=transport)

    async def names(self) -> set[str]:
        result = await self._call("GET", "/collections")
        return {str(c["name"]) for c in result["collections"]}

    async def params(self, name: str) -> dict[str, Any]:
        result = await self._call("GET", f"/collections/{name}")
        return dict(result["config"]["params"])

    async def create(self, name: str, body: dict[str, Any]) -> None:
        await self._call("PUT", f"/collections/{name}", body)

    async def update(self, name: str, body: dict[str, Any]) -> None:
        await self._call("PATCH", f"/collections/{name}", body)

    async def delete(self, name: str) -> None:
        await self._call("DELETE", f"/collections/{name}")

    async def cluster(self, name: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/collections/{name}/cluster"))

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.request(method, path, json=body)
        if 400 <= response.status_code < 500:
            raise QdrantRefused(response.status_code, _error(response))
        response.raise_for_status()  # 5xx: Qdrant is not (fully) up; the caller reports it unreachable
        return response.json()["result"]


def _error(response: httpx.Response) -> str:
    """Qdrant's error text ({"status": {"error": ...}}), else the status line."""
    try:
        status = response.json().get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
    except ValueError:
        pass
    return f"HTTP {response.status_code} {response.reason_phrase}"
