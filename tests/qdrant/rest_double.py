"""TEST DOUBLE - not Qdrant. Qdrant's documented collection endpoints in front of qdrant-client's local mode.

An httpx transport, so `ragops.qdrant.rest.QdrantRest` is exercised over real HTTP requests and JSON:

    GET    /collections            {"result": {"collections": [{"name": ...}]}}
    GET    /collections/{c}        {"result": {"config": {"params": ...}}}   (404 when missing)
    PUT    /collections/{c}        body: CreateCollection                     (409 when it exists)
    PATCH  /collections/{c}        body: UpdateCollection
    DELETE /collections/{c}
    GET    /collections/{c}/cluster  {"result": {"local_shards": [...], "remote_shards": [...]}}

Request bodies are parsed with qdrant-client's own REST models (CreateCollection, UpdateCollection, which
forbid unknown fields), so a body Qdrant would not accept fails the test. Local mode ignores vector diffs on
update and does not record shard/replication counts; the double applies on_disk the way Qdrant does, and
answers /cluster the way Qdrant places replicas on `nodes` nodes: min(replication_factor, nodes) replicas
of each shard at creation, none added when the replication factor is raised later.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from qdrant_client import QdrantClient, models


class LocalModeQdrant:
    def __init__(self, api_key: str | None = None, nodes: int = 1) -> None:
        self.client = QdrantClient(location=":memory:")
        self.nodes = nodes
        self.placed: dict[str, tuple[int, int]] = {}  # collection -> (shards, replicas of each)
        self.api_key = api_key
        self.requests: list[tuple[str, str, Any]] = []
        self.refuse: dict[str, str] = {}  # collection -> the error Qdrant answers to creating it (400)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def take_writes(self) -> list[tuple[str, str, Any]]:
        """The write requests (method, collection, body) since the last call."""
        writes = [(m, path.rsplit("/", 1)[1], body) for m, path, body in self.requests if m != "GET"]
        self.requests = []
        return writes

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if self.api_key and request.headers.get("api-key") != self.api_key:
            return _error(403, "Forbidden: invalid API key")
        parts = request.url.path.strip("/").split("/")
        if parts == ["collections"] and request.method == "GET":
            return _ok({"collections": [{"name": c.name} for c in self.client.get_collections().collections]})
        if len(parts) == 3 and parts[2] == "cluster" and request.method == "GET":
            if parts[1] not in self.placed:
                return _error(404, f"Not found: Collection `{parts[1]}` doesn't exist!")
            shards, replicas = self.placed[parts[1]]
            local = [{"shard_id": s, "points_count": 0, "state": "Active"} for s in range(shards)]
            remote = [
                {"shard_id": s, "peer_id": 200 + r, "state": "Active"}
                for s in range(shards)
                for r in range(1, replicas)
            ]
            return _ok({"peer_id": 100, "shard_count": shards, "local_shards": local, "remote_shards": remote})
        if len(parts) != 2 or parts[0] != "collections":
            return _error(404, f"Not found: {request.url.path}")
        name, exists = parts[1], self.client.collection_exists(parts[1])
        if request.method == "PUT":
            if exists:
                return _error(409, f"Wrong input: Collection `{name}` already exists!")
            if name in self.refuse:
                return _error(400, self.refuse[name])
            create = models.CreateCollection.model_validate(body)
            self.client.create_collection(
                name,
                vectors_config=create.vectors,
                shard_number=create.shard_number,
                replication_factor=create.replication_factor,
            )
            self.placed[name] = (create.shard_number or 1, min(create.replication_factor or 1, self.nodes))
            return _ok(True)
        if not exists:
            return _error(404, f"Not found: Collection `{name}` doesn't exist!")
        if request.method == "GET":
            params = self.client.get_collection(name).config.params.model_dump(mode="json", exclude_none=True)
            return _ok({"status": "green", "config": {"params": params}})
        if request.method == "PATCH":
            update = models.UpdateCollection.model_validate(body)
            self.client.update_collection(name, vectors_config=update.vectors, collection_params=update.params)
            if isinstance(update.vectors, dict) and "" in update.vectors:
                local = self.client._client.collections[name]  # type: ignore[attr-defined]
                local.config.vectors.on_disk = update.vectors[""].on_disk
            return _ok(True)
        if request.method == "DELETE":
            self.client.delete_collection(name)
            self.placed.pop(name, None)
            return _ok(True)
        return _error(405, f"method {request.method} not allowed")


def _ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.001})


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"status": {"error": message}, "time": 0.001})
