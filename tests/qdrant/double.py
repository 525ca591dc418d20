"""TEST DOUBLE - not Qdrant. A simulated Qdrant cluster behind a real HTTP server on 127.0.0.1.

It implements only the part of Qdrant's documented REST API that ragops' snapshot code calls, with
Qdrant's response envelope ({"result": ..., "status": "ok", "time": ...}, errors as
{"status": {"error": ...}}), for N nodes reachable as `<url>/node-<i>`:

    GET    /                                       version info (not enveloped)
    GET    /collections
    GET    /collections/{c}                        config (params: vectors, shard_number, ...), payload_schema
    PUT    /collections/{c}                        create (body: CreateCollection; shard_number N only)
    DELETE /collections/{c}
    PUT    /collections/{c}/index                  payload index (recorded in payload_schema)
    GET    /collections/{c}/cluster                this node's view: peer id, local and remote shards
    POST   /collections/{c}/cluster                recorded; placement never needs changing in the double
    POST   /collections/{c}/points/count           cluster-wide count
    POST   /collections/{c}/snapshots?wait=true    collection snapshot of THIS node's shard
    GET    /collections/{c}/snapshots
    GET    /collections/{c}/snapshots/{name}       the file, streamed with Content-Length
    DELETE /collections/{c}/snapshots/{name}
    POST   /collections/{c}/snapshots/upload?priority=..&checksum=..   multipart field `snapshot`
    POST   /collections/{c}/shards/{s}/snapshots?wait=true    shard snapshot (the node must hold shard s)
    GET    /collections/{c}/shards/{s}/snapshots/{name}
    DELETE /collections/{c}/shards/{s}/snapshots/{name}
    POST   /collections/{c}/shards/{s}/snapshots/upload?priority=..&checksum=..

Points live in qdrant-client's local mode, one instance per node. A collection has N shards, one per node,
each with one replica: shard i is on node i (peer id 100 + i) and holds the points with `id % N == i`. A
"snapshot" is JSON of the node's points and the collection's vector config, not Qdrant's tar format. Faults
can be injected: `fail_download` cuts a snapshot download short; `dead` marks replicas (collection, shard)
Dead in every view; `phantom` makes node 0 list a replica of every shard on node 1 (what Qdrant's
collection-snapshot restore left behind in issue 16).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from qdrant_client import QdrantClient, models
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

VERSION = "1.20.0"


@dataclass
class Call:
    node: int
    method: str
    path: str
    query: dict[str, str]
    api_key: str | None


@dataclass
class FakeQdrantCluster:
    nodes: int
    directory: Path
    api_key: str | None = None
    version: str = VERSION
    padding: int = 0  # bytes of filler per snapshot, to make files large
    calls: list[Call] = field(default_factory=list)
    fail_download: set[tuple[str, int]] = field(default_factory=set)
    dead: set[tuple[str, int]] = field(default_factory=set)
    phantom: bool = False

    def __post_init__(self) -> None:
        self.local = [QdrantClient(location=":memory:") for _ in range(self.nodes)]
        self.configs: dict[str, models.VectorParams] = {}
        self.indexes: dict[str, dict[str, Any]] = {}

    # --- test-side helpers (what a user's writes would do) ---

    def create_collection(self, name: str, size: int = 4, distance: str = "Cosine") -> None:
        params = models.VectorParams(size=size, distance=models.Distance(distance))
        self.configs[name] = params
        self.indexes[name] = {}
        for client in self.local:
            if client.collection_exists(name):
                client.delete_collection(name)
            client.create_collection(name, vectors_config=params)

    def upsert(self, name: str, points: list[models.PointStruct]) -> None:
        for index, client in enumerate(self.local):
            mine = [p for p in points if self.owner(p.id) == index]
            if mine:
                client.upsert(name, mine)

    def points(self, name: str) -> dict[Any, tuple[list[float], dict[str, Any]]]:
        """Every point by id. Vectors are rounded to 5 decimals: local mode normalises Cosine vectors on each
        upsert, so the double's recover (an upsert) moves their last float32 bits; real Qdrant does not."""
        found: dict[Any, tuple[list[float], dict[str, Any]]] = {}
        for client in self.local:
            for record in client.scroll(name, limit=100_000, with_vectors=True)[0]:
                vector = record.vector
                assert isinstance(vector, list) and all(isinstance(x, float) for x in vector)
                found[record.id] = ([round(float(x), 5) for x in vector], dict(record.payload or {}))  # type: ignore[arg-type]
        return found

    def peer(self, node: int) -> int:
        return 100 + node

    def snapshot_files(self) -> list[Path]:
        return sorted(self.directory.rglob("*.snapshot"))

    def owner(self, point_id: Any) -> int:
        return int(point_id) % self.nodes

    # --- the HTTP side ---

    def app(self) -> Starlette:
        prefix = "/node-{node:int}"
        routes = [
            Route(prefix + "/", self._root, methods=["GET"]),
            Route(prefix + "/collections", self._collections, methods=["GET"]),
            Route(prefix + "/collections/{c}", self._collection, methods=["GET", "PUT", "DELETE"]),
            Route(prefix + "/collections/{c}/index", self._index, methods=["PUT"]),
            Route(prefix + "/collections/{c}/cluster", self._cluster, methods=["GET", "POST"]),
            Route(prefix + "/collections/{c}/points/count", self._count, methods=["POST"]),
            Route(prefix + "/collections/{c}/shards/{s:int}/snapshots", self._create, methods=["POST"]),
            Route(prefix + "/collections/{c}/shards/{s:int}/snapshots/upload", self._upload, methods=["POST"]),
            Route(prefix + "/collections/{c}/shards/{s:int}/snapshots/{n}", self._download, methods=["GET"]),
            Route(prefix + "/collections/{c}/shards/{s:int}/snapshots/{n}", self._delete, methods=["DELETE"]),
            Route(prefix + "/collections/{c}/snapshots", self._create, methods=["POST"]),
            Route(prefix + "/collections/{c}/snapshots", self._list, methods=["GET"]),
            Route(prefix + "/collections/{c}/snapshots/upload", self._upload, methods=["POST"]),
            Route(prefix + "/collections/{c}/snapshots/{n}", self._download, methods=["GET"]),
            Route(prefix + "/collections/{c}/snapshots/{n}", self._delete, methods=["DELETE"]),
        ]
        return Starlette(routes=routes)

    def _enter(self, request: Request) -> tuple[int, Response | None]:
        node = int(request.path_params["node"])
        key = request.headers.get("api-key")
        self.calls.append(Call(node, request.method, request.url.path, dict(request.query_params), key))
        if self.api_key and key != self.api_key:
            return node, _error(401, "Must provide an API key or an Authorization bearer token")
        creating = request.method == "PUT" and request.url.path.endswith(
            "/collections/" + request.path_params.get("c", "")
        )
        if "c" in request.path_params and request.path_params["c"] not in self.configs and not creating:
            return node, _error(404, f"Not found: Collection `{request.path_params['c']}` doesn't exist!")
        shard = request.path_params.get("s")
        if shard is not None and shard != node:
            return node, _error(400, f"Bad request: shard {shard} is not local on peer {self.peer(node)}")
        return node, None

    async def _root(self, request: Request) -> Response:
        _, denied = self._enter(request)
        return denied or JSONResponse({"title": "qdrant - vector search engine", "version": self.version})

    async def _collections(self, request: Request) -> Response:
        _, denied = self._enter(request)
        return denied or _ok({"collections": [{"name": name} for name in sorted(self.configs)]})

    async def _collection(self, request: Request) -> Response:
        _, denied = self._enter(request)
        if denied:
            return denied
        name = request.path_params["c"]
        if request.method == "DELETE":
            for client in self.local:
                client.delete_collection(name)
            del self.configs[name]
            return _ok(True)
        if request.method == "PUT":
            if name in self.configs:
                return _error(409, f"Wrong input: Collection `{name}` already exists!")
            create = models.CreateCollection.model_validate(await request.json())
            if create.shard_number not in (None, self.nodes) or not isinstance(create.vectors, models.VectorParams):
                return _error(400, f"test double: one unnamed vector and {self.nodes} shards only")
            self.create_collection(name, create.vectors.size, create.vectors.distance.value)
            return _ok(True)
        vectors = self.configs[name].model_dump(mode="json", exclude_none=True)
        params = {"vectors": vectors, "shard_number": self.nodes, "replication_factor": 1, "on_disk_payload": True}
        config = {"params": params, "hnsw_config": {"m": 16, "ef_construct": 100}, "wal_config": None}
        schema = {f: {"data_type": t, "points": 0} for f, t in self.indexes[name].items()}
        return _ok({"status": "green", "config": config, "payload_schema": schema})

    async def _index(self, request: Request) -> Response:
        _, denied = self._enter(request)
        if denied:
            return denied
        body = await request.json()
        self.indexes[request.path_params["c"]][body["field_name"]] = body["field_schema"]
        return _ok({"status": "completed"})

    async def _cluster(self, request: Request) -> Response:
        node, denied = self._enter(request)
        if denied:
            return denied
        if request.method == "POST":
            return _error(400, "test double: placement changes are not simulated")
        name = request.path_params["c"]

        def state(shard: int) -> str:
            return "Dead" if (name, shard) in self.dead else "Active"

        remote = [{"shard_id": i, "peer_id": self.peer(i), "state": state(i)} for i in range(self.nodes) if i != node]
        if self.phantom and node == 0 and self.nodes > 1:
            remote += [{"shard_id": i, "peer_id": self.peer(1), "state": "Active"} for i in range(self.nodes) if i != 1]
        return _ok(
            {
                "peer_id": self.peer(node),
                "shard_count": self.nodes,
                "local_shards": [
                    {"shard_id": node, "points_count": self.local[node].count(name).count, "state": state(node)}
                ],
                "remote_shards": remote,
                "shard_transfers": [],
            }
        )

    async def _count(self, request: Request) -> Response:
        _, denied = self._enter(request)
        if denied:
            return denied
        if (await request.json()).get("exact") is not True:
            return _error(400, "test double: ragops is expected to count exactly")
        name = request.path_params["c"]
        return _ok({"count": sum(client.count(name, exact=True).count for client in self.local)})

    async def _create(self, request: Request) -> Response:
        node, denied = self._enter(request)
        if denied:
            return denied
        name = request.path_params["c"]
        records = self.local[node].scroll(name, limit=100_000, with_vectors=True)[0]
        content = json.dumps(
            {
                "collection": name,
                "vectors": self.configs[name].model_dump(mode="json", exclude_none=True),
                "points": [{"id": r.id, "vector": r.vector, "payload": r.payload} for r in records],
                "padding": "x" * self.padding,
            }
        ).encode()
        now = datetime.now(UTC)
        snapshot = f"{name}-{node}-{now:%Y-%m-%d-%H-%M-%S}-{time.monotonic_ns()}.snapshot"
        path = self._dir(node, name, request.path_params.get("s")) / snapshot
        path.write_bytes(content)
        return _ok(_description(path))

    async def _list(self, request: Request) -> Response:
        node, denied = self._enter(request)
        if denied:
            return denied
        files = sorted(self._dir(node, request.path_params["c"]).glob("*.snapshot"))
        return _ok([_description(path) for path in files])

    async def _download(self, request: Request) -> Response:
        node, denied = self._enter(request)
        if denied:
            return denied
        name = request.path_params["c"]
        path = self._dir(node, name, request.path_params.get("s")) / request.path_params["n"]
        if not path.is_file():
            return _error(404, f"Not found: Snapshot {request.path_params['n']} not found")
        data = path.read_bytes()
        broken = (name, node) in self.fail_download

        async def body() -> AsyncIterator[bytes]:
            yield data[: len(data) // 2]
            if broken:  # the connection drops mid-file
                raise ConnectionResetError("injected: connection dropped during download")
            yield data[len(data) // 2 :]

        return StreamingResponse(body(), headers={"content-length": str(len(data))})

    async def _delete(self, request: Request) -> Response:
        node, denied = self._enter(request)
        if denied:
            return denied
        path = self._dir(node, request.path_params["c"], request.path_params.get("s")) / request.path_params["n"]
        if not path.is_file():
            return _error(404, f"Not found: Snapshot {request.path_params['n']} not found")
        path.unlink()
        return _ok(True)

    async def _upload(self, request: Request) -> Response:
        node = int(request.path_params["node"])
        name = request.path_params["c"]
        self.calls.append(
            Call(node, request.method, request.url.path, dict(request.query_params), request.headers.get("api-key"))
        )
        if self.api_key and request.headers.get("api-key") != self.api_key:
            return _error(401, "Must provide an API key or an Authorization bearer token")
        if "s" in request.path_params and name not in self.configs:
            return _error(404, f"Not found: Collection `{name}` doesn't exist!")
        if request.path_params.get("s", node) != node:
            return _error(400, f"Bad request: shard {request.path_params['s']} is not local on peer {self.peer(node)}")
        data = _multipart_field(request.headers["content-type"], await request.body(), "snapshot")
        if data is None:
            return _error(400, "Bad request: multipart field `snapshot` is missing")
        checksum = request.query_params.get("checksum")
        if checksum and hashlib.sha256(data).hexdigest() != checksum:
            return _error(400, "Bad request: Snapshot checksum mismatch")
        snapshot = json.loads(data)
        params = models.VectorParams.model_validate(snapshot["vectors"])
        if name not in self.configs:  # recovery creates a missing collection, cluster-wide
            self.create_collection(name, params.size, params.distance.value)
        local = self.local[node]
        local.delete_collection(name)  # this node's data is replaced by the snapshot's
        local.create_collection(name, vectors_config=params)
        points = [models.PointStruct(**p) for p in snapshot["points"]]
        if points:
            local.upsert(name, points)
        return _ok(True)

    def _dir(self, node: int, collection: str, shard: int | None = None) -> Path:
        path = self.directory / f"node-{node}" / collection
        if shard is not None:
            path = path / "shards" / str(shard)
        path.mkdir(parents=True, exist_ok=True)
        return path


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"result": result, "status": "ok", "time": 0.0001})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": {"error": message}, "time": 0.0001}, status_code=status)


def _description(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    created = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "name": path.name,
        "creation_time": created,
        "size": len(data),
        "checksum": hashlib.sha256(data).hexdigest(),
    }


def _multipart_field(content_type: str, body: bytes, name: str) -> bytes | None:
    # The standard library's MIME parser reads multipart/form-data once given its Content-Type.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():  # type: ignore[attr-defined]
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


class Server:
    """An ASGI app served by uvicorn in a thread. The socket is bound and listening before the thread
    starts, so requests queue in the backlog until the server accepts them: no start-up wait needed."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Accepted sockets inherit this: without it Nagle + delayed ACKs add ~40 ms to every request.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        host, port = self._socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class Running:
    cluster: FakeQdrantCluster
    server: Server

    def node_urls(self) -> list[str]:
        return [f"{self.server.url}/node-{i}" for i in range(self.cluster.nodes)]


def serve(cluster: FakeQdrantCluster) -> Iterator[Running]:
    server = Server(cluster.app())
    try:
        yield Running(cluster, server)
    finally:
        server.stop()
