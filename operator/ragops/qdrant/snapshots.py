"""REST calls to ONE Qdrant node: shard and collection snapshots, their download and recovery, the node's
view of a collection's cluster (shard placement, replica states, transfers), counts and version.

Snapshots are taken on, and recovered into, the node that holds the shard, and each node has its own view
of the cluster state, so backup and restore talk to every pod through its own URL rather than through the
load-balanced Service. Responses are parsed with qdrant-client's own pydantic models, so a shape this code
assumes is the shape Qdrant documents.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter
from qdrant_client.http import models

# Creating a snapshot (`wait=true`) and recovering one send no byte until Qdrant is done: allow for large
# collections. The Job's activeDeadlineSeconds bounds the whole run anyway.
LONG_READ_SECONDS = 2 * 3600.0
CHUNK = 1024 * 1024

_SNAPSHOTS = TypeAdapter(list[models.SnapshotDescription])


@dataclass(frozen=True)
class Upload:
    """A snapshot to upload as a stream: `size` bytes in `chunks`, sent as `filename`."""

    filename: str
    size: int
    chunks: AsyncIterator[bytes]

    @classmethod
    def of_file(cls, path: Path) -> Upload:
        return cls(path.name, path.stat().st_size, _file_chunks(path))


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            yield chunk


class QdrantError(Exception):
    """A failed call to a Qdrant node; the message names the node and the call, never the API key.
    `status` is the HTTP status Qdrant answered with (None when it did not answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class QdrantNode:
    """Async REST client of one Qdrant node. Use as `async with QdrantNode(url, key) as node:`."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"api-key": api_key} if api_key else {}
        self._long = httpx.Timeout(timeout, read=LONG_READ_SECONDS)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def version(self) -> str:
        """Qdrant's version from `GET /` (the one response not wrapped in {"result": ...})."""
        response = await self._call("GET", "/")
        return models.VersionInfo.model_validate(response.json()).version

    async def collections(self) -> list[str]:
        result = await self._result("GET", "/collections")
        return sorted(c.name for c in models.CollectionsResponse.model_validate(result).collections)

    async def count(self, collection: str) -> int:
        """Exact number of points of the collection (cluster-wide, whichever node answers)."""
        result = await self._result(
            "POST", f"/collections/{_name(collection)}/points/count", json=models.CountRequest(exact=True).model_dump()
        )
        return models.CountResult.model_validate(result).count

    async def info(self, collection: str) -> dict[str, Any]:
        """`GET /collections/{c}` as Qdrant sent it (config, payload_schema, counts): kept as raw JSON so a
        backup records the configuration exactly, including fields qdrant-client does not model."""
        result = await self._result("GET", f"/collections/{_name(collection)}")
        if not isinstance(result, dict):
            raise QdrantError(f"{self.url}: GET /collections/{collection}: unexpected answer")
        return result

    async def cluster(self, collection: str) -> models.CollectionClusterInfo:
        """This node's view of the collection's shards: its peer id, local and remote replicas with their
        states, and the shard transfers it knows of."""
        result = await self._result("GET", f"/collections/{_name(collection)}/cluster")
        return models.CollectionClusterInfo.model_validate(result)

    async def create_collection(self, collection: str, body: dict[str, Any]) -> None:
        await self._result("PUT", f"/collections/{_name(collection)}", params={"wait": "true"}, json=body)

    async def delete_collection(self, collection: str) -> None:
        await self._result("DELETE", f"/collections/{_name(collection)}", params={"wait": "true"})

    async def create_index(self, collection: str, field: str, schema: Any) -> None:
        body = {"field_name": field, "field_schema": schema}
        await self._result("PUT", f"/collections/{_name(collection)}/index", params={"wait": "true"}, json=body)

    async def cluster_operation(self, collection: str, operation: dict[str, Any]) -> None:
        """`POST /collections/{c}/cluster` (move_shard, replicate_shard, drop_replica): Qdrant accepts the
        operation through consensus and returns; transfers then run in the background."""
        await self._result("POST", f"/collections/{_name(collection)}/cluster", json=operation)

    async def create_shard_snapshot(self, collection: str, shard: int) -> models.SnapshotDescription:
        result = await self._result(
            "POST",
            f"/collections/{_name(collection)}/shards/{shard}/snapshots",
            params={"wait": "true"},
            timeout=self._long,
        )
        return models.SnapshotDescription.model_validate(result)

    async def delete_shard_snapshot(self, collection: str, shard: int, snapshot: str) -> None:
        await self._result(
            "DELETE",
            f"/collections/{_name(collection)}/shards/{shard}/snapshots/{_name(snapshot)}",
            params={"wait": "true"},
        )

    def download_shard(self, collection: str, shard: int, snapshot: str) -> Any:
        """Stream a shard snapshot file, like `download`."""
        return self._stream(f"/collections/{_name(collection)}/shards/{shard}/snapshots/{_name(snapshot)}")

    async def recover_shard(
        self, collection: str, shard: int, snapshot: Path | Upload, *, checksum: str | None
    ) -> None:
        """Upload a shard snapshot and recover this node's replica of the shard from it.

        `priority=snapshot`: the uploaded data becomes the shard's content; Qdrant marks the shard's other
        replicas Dead and re-synchronises them from this one (the caller waits for them to be Active).
        The node must hold a replica of the shard."""
        await self._upload(f"/collections/{_name(collection)}/shards/{shard}/snapshots/upload", snapshot, checksum)

    async def create_snapshot(self, collection: str) -> models.SnapshotDescription:
        result = await self._result(
            "POST", f"/collections/{_name(collection)}/snapshots", params={"wait": "true"}, timeout=self._long
        )
        return models.SnapshotDescription.model_validate(result)

    async def list_snapshots(self, collection: str) -> list[models.SnapshotDescription]:
        return _SNAPSHOTS.validate_python(await self._result("GET", f"/collections/{_name(collection)}/snapshots"))

    async def delete_snapshot(self, collection: str, snapshot: str) -> None:
        await self._result(
            "DELETE", f"/collections/{_name(collection)}/snapshots/{_name(snapshot)}", params={"wait": "true"}
        )

    def download(self, collection: str, snapshot: str) -> Any:
        """Stream a snapshot file: `async with node.download(c, s) as chunks: async for chunk in chunks`."""
        return self._stream(f"/collections/{_name(collection)}/snapshots/{_name(snapshot)}")

    @asynccontextmanager
    async def _stream(self, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            async with self._http.stream("GET", path, timeout=self._long) as response:
                if response.is_error:
                    await response.aread()
                    raise QdrantError(self._failure("GET", path, response), response.status_code)
                yield response.aiter_bytes(CHUNK)
        except httpx.HTTPError as error:
            raise QdrantError(self._unreachable("GET", path, error)) from error

    async def recover(self, collection: str, snapshot: Path | Upload, *, checksum: str | None = None) -> None:
        """Upload a snapshot (a file, or a stream of its bytes) and recover the collection from it on this node.

        `priority=snapshot` makes the uploaded data the source of truth over replicas on other nodes, which
        is what a restore means; `checksum` lets Qdrant verify the upload before replacing anything.
        """
        await self._upload(f"/collections/{_name(collection)}/snapshots/upload", snapshot, checksum)

    async def _upload(self, path: str, snapshot: Path | Upload, checksum: str | None) -> None:
        """POST a snapshot with snapshot priority (the upload wins over other replicas), waiting for it.

        The body is streamed (a multipart form built around the chunks, with its exact length), so a restore
        never stages a node-sized file: from S3 the bytes go straight from the download to Qdrant."""
        upload = snapshot if isinstance(snapshot, Upload) else Upload.of_file(snapshot)
        params = {"priority": "snapshot", "wait": "true"}
        if checksum:
            params["checksum"] = checksum
        boundary = secrets.token_hex(16)
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="snapshot"; filename="{upload.filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in upload.chunks:
                yield chunk
            yield tail

        await self._result(
            "POST",
            path,
            params=params,
            content=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + upload.size + len(tail)),
            },
            timeout=self._long,
        )

    async def _result(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `result` of Qdrant's envelope {"result": ..., "status": "ok", "time": ...}."""
        response = await self._call(method, path, **kwargs)
        try:
            return response.json()["result"]
        except (ValueError, KeyError, TypeError) as error:
            raise QdrantError(f"{self.url}: {method} {path}: unexpected answer (no result)") from error

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise QdrantError(self._unreachable(method, path, error)) from error
        if response.is_error:
            raise QdrantError(self._failure(method, path, response), response.status_code)
        return response

    def _failure(self, method: str, path: str, response: httpx.Response) -> str:
        return f"{self.url}: {method} {path}: HTTP {response.status_code}: {_error_text(response)}"

    def _unreachable(self, method: str, path: str, error: httpx.HTTPError) -> str:
        return f"{self.url}: {method} {path}: {type(error).__name__}: {error}"


def _name(segment: str) -> str:
    """A collection or snapshot name as one path segment."""
    return quote(segment, safe="")


def _error_text(response: httpx.Response) -> str:
    # Qdrant reports errors as {"status": {"error": "..."}}; anything else is cut short.
    try:
        status = response.json().get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
    except (ValueError, AttributeError):
        pass
    return response.text[:200] or response.reason_phrase
