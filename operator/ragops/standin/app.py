"""The stand-in's HTTP side: Qdrant's REST endpoints in front of qdrant-client's local mode. NOT Qdrant.

    GET  /  /readyz  /livez  /healthz  /metrics            (no API key, like Qdrant; / names the stand-in)
    GET|PUT|PATCH|DELETE /collections/{c}      GET /collections   GET /collections/{c}/exists
    PUT  /collections/{c}/index                             (recorded in payload_schema; local mode needs none)
    PUT  /collections/{c}/points               POST /collections/{c}/points            (retrieve by ids)
    POST /collections/{c}/points/{delete,count,query,scroll}
    POST /collections/{c}/snapshots   GET /collections/{c}/snapshots[/{name}]   DELETE .../snapshots/{name}
    POST /collections/{c}/snapshots/upload?priority=snapshot&checksum=...        (multipart field `snapshot`)

Bodies are parsed with qdrant-client's own REST models, answers use Qdrant's envelope
({"result": ..., "status": "ok", "time": ...}; errors {"status": {"error": ...}}). A snapshot is JSON of the
collection's vector config and points (not Qdrant's tar format): only the stand-in can recover it.
Local mode is single-threaded: every endpoint is `async` and calls the client without awaiting in between,
so requests are served one at a time on the event loop.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from qdrant_client import QdrantClient, models
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

STANDIN = "ragops Qdrant stand-in (qdrant-client local mode), NOT Qdrant"
# The Qdrant release whose REST API the stand-in answers like (the operator's default image).
VERSION = "1.20.0"
SNAPSHOT_SUFFIX = ".snapshot"
OPEN_PATHS = frozenset({"/", "/readyz", "/livez", "/healthz", "/metrics"})
# What a read-only key may do besides GET (Qdrant's read-only keys: reads and searches).
READ_ONLY_POSTS = ("/points/count", "/points/query", "/points/scroll", "/points/search")
UPSERT_BATCH = 256
PEER_ID = 1  # the one peer's id in GET /collections/{c}/cluster

log = logging.getLogger("ragops.standin")

_INSERT: TypeAdapter[models.PointInsertOperations] = TypeAdapter(models.PointInsertOperations)
_SELECTOR: TypeAdapter[models.PointsSelector] = TypeAdapter(models.PointsSelector)
_VECTORS: TypeAdapter[models.VectorParams | dict[str, models.VectorParams]] = TypeAdapter(
    models.VectorParams | dict[str, models.VectorParams]
)


@dataclass(frozen=True)
class Settings:
    http_port: int
    storage_path: Path
    snapshots_path: Path
    api_key: str | None
    read_only_api_key: str | None


class QdrantError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StandIn:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.storage_path.mkdir(parents=True, exist_ok=True)
        settings.snapshots_path.mkdir(parents=True, exist_ok=True)
        # The root filesystem is read-only and Qdrant's pod has no /tmp; local mode's file lock (portalocker)
        # needs a temporary directory at import: use one on the snapshots volume.
        scratch = settings.snapshots_path / ".tmp"
        scratch.mkdir(exist_ok=True)
        tempfile.tempdir = str(scratch)
        # Local mode persisted on disk (SQLite per collection): points survive a restart of the pod.
        self.client = QdrantClient(path=str(settings.storage_path))
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        self.started = time.monotonic()

    def app(self) -> Starlette:
        c = "/collections/{c}"
        routes = [
            Route("/", self.root, methods=["GET"]),
            Route("/readyz", self.ready, methods=["GET"]),
            Route("/livez", self.healthy, methods=["GET"]),
            Route("/healthz", self.healthy, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/collections", self.handle(self.list_collections), methods=["GET"]),
            Route(c, self.handle(self.collection), methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route(c + "/exists", self.handle(self.exists), methods=["GET"]),
            Route(c + "/index", self.handle(self.create_index), methods=["PUT"]),
            Route(c + "/points", self.handle(self.points), methods=["PUT", "POST"]),
            Route(c + "/points/{op}", self.handle(self.points_op), methods=["POST"]),
            Route(c + "/cluster", self.handle(self.cluster), methods=["GET", "POST"]),
            Route(c + "/snapshots", self.handle(self.snapshots), methods=["GET", "POST"]),
            Route(c + "/snapshots/upload", self.handle(self.upload), methods=["POST"]),
            Route(c + "/snapshots/{s}", self.handle(self.snapshot), methods=["GET", "DELETE"]),
            # One shard (0) per collection: shard snapshots are whole-collection snapshots in their own folder.
            Route(c + "/shards/{shard:int}/snapshots", self.handle(self.snapshots), methods=["GET", "POST"]),
            Route(c + "/shards/{shard:int}/snapshots/upload", self.handle(self.upload), methods=["POST"]),
            Route(c + "/shards/{shard:int}/snapshots/{s}", self.handle(self.snapshot), methods=["GET", "DELETE"]),
        ]
        return Starlette(routes=routes)

    # --- open endpoints ---

    async def root(self, request: Request) -> Response:
        return _headers(JSONResponse({"title": STANDIN, "version": VERSION}))

    async def ready(self, request: Request) -> Response:
        return _headers(PlainTextResponse("all shards are ready"))

    async def healthy(self, request: Request) -> Response:
        return _headers(PlainTextResponse("healthz check passed"))

    async def metrics(self, request: Request) -> Response:
        collections = self.client.get_collections().collections
        lines = [
            "# HELP app_info information about the server (ragops Qdrant stand-in, not Qdrant)",
            "# TYPE app_info gauge",
            f'app_info{{name="ragops-qdrant-standin",version="{VERSION}"}} 1',
            "# TYPE collections_total gauge",
            f"collections_total {len(collections)}",
        ]
        return _headers(PlainTextResponse("\n".join(lines) + "\n"))

    # --- the API-key gate and the envelope ---

    def handle(self, endpoint: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            start = time.perf_counter()
            try:
                self._authorize(request)
                result = await endpoint(request)
            except QdrantError as error:
                return _error(error.status, str(error), start)
            except ValidationError as error:
                return _error(400, f"Format error in JSON body: {error.errors()[:3]}", start)
            except (ValueError, KeyError) as error:  # local mode's "Wrong input" and the like
                return _error(400, f"Wrong input: {error}", start)
            if isinstance(result, Response):
                return _headers(result)
            return _headers(JSONResponse({"result": result, "status": "ok", "time": time.perf_counter() - start}))

        return wrapped

    def _authorize(self, request: Request) -> None:
        key = request.headers.get("api-key")
        if not key and request.headers.get("authorization", "").startswith("Bearer "):
            key = request.headers["authorization"].removeprefix("Bearer ")
        if not self.settings.api_key and not self.settings.read_only_api_key:
            return
        if key and key == self.settings.api_key:
            return
        if key and key == self.settings.read_only_api_key:
            path = request.url.path
            if request.method == "GET" or (request.method == "POST" and path.endswith(READ_ONLY_POSTS)):
                return
            raise QdrantError(403, "Forbidden: Write access denied (read-only API key)")
        raise QdrantError(401, "Must provide an API key or an Authorization bearer token")

    # --- collections ---

    async def list_collections(self, request: Request) -> Any:
        return {"collections": [{"name": c.name} for c in self.client.get_collections().collections]}

    async def exists(self, request: Request) -> Any:
        return {"exists": self.client.collection_exists(request.path_params["c"])}

    async def collection(self, request: Request) -> Any:
        name = request.path_params["c"]
        exists = self.client.collection_exists(name)
        if request.method == "PUT":
            if exists:
                raise QdrantError(409, f"Wrong input: Collection `{name}` already exists!")
            create = models.CreateCollection.model_validate(await _json(request))
            self.client.create_collection(
                name,
                vectors_config=create.vectors,
                sparse_vectors_config=create.sparse_vectors,
                shard_number=create.shard_number,
                replication_factor=create.replication_factor,
                on_disk_payload=create.on_disk_payload,
            )
            log.info("created collection %s", name)
            return True
        if not exists:
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")
        if request.method == "GET":
            info = self.client.get_collection(name).model_dump(mode="json", exclude_none=True)
            info["payload_schema"] = {**info.get("payload_schema", {}), **self.indexes.get(name, {})}
            return info
        if request.method == "PATCH":
            update = models.UpdateCollection.model_validate(await _json(request))
            self.client.update_collection(name, vectors_config=update.vectors, collection_params=update.params)
            self._apply_on_disk(name, update)
            return True
        self.client.delete_collection(name)
        self.indexes.pop(name, None)
        log.info("deleted collection %s", name)
        return True

    def _apply_on_disk(self, name: str, update: models.UpdateCollection) -> None:
        # Local mode ignores vector parameter updates; Qdrant applies on_disk, and the operator reads it back.
        if isinstance(update.vectors, dict) and "" in update.vectors:
            vectors = self.client._client.collections[name].config.vectors  # type: ignore[attr-defined]
            if isinstance(vectors, models.VectorParams):
                vectors.on_disk = update.vectors[""].on_disk

    async def create_index(self, request: Request) -> Any:
        name = self._existing(request)
        index = models.CreateFieldIndex.model_validate(await _json(request))
        schema = index.field_schema
        data_type = schema.value if isinstance(schema, models.PayloadSchemaType) else getattr(schema, "type", "keyword")
        self.indexes.setdefault(name, {})[index.field_name] = {"data_type": str(getattr(data_type, "value", data_type)),
                                                              "points": 0}
        return {"operation_id": 0, "status": "completed"}

    def _existing(self, request: Request) -> str:
        name = str(request.path_params["c"])
        if not self.client.collection_exists(name):
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")
        return name

    # --- points ---

    async def points(self, request: Request) -> Any:
        name = self._existing(request)
        body = await _json(request)
        if request.method == "POST":  # retrieve by ids
            ids = models.PointRequest.model_validate(body)
            records = self.client.retrieve(name, ids.ids, with_payload=ids.with_payload if ids.with_payload is not None
                                           else True, with_vectors=ids.with_vector or False)
            return [r.model_dump(mode="json", exclude_none=True) for r in records]
        operation = _INSERT.validate_python(body)
        points = operation.points if isinstance(operation, models.PointsList) else operation.batch
        self.client.upsert(name, points=points)
        return {"operation_id": 0, "status": "completed"}

    async def points_op(self, request: Request) -> Any:
        name = self._existing(request)
        op, body = request.path_params["op"], await _json(request)
        if op == "delete":
            self.client.delete(name, points_selector=_SELECTOR.validate_python(body))
            return {"operation_id": 0, "status": "completed"}
        if op == "count":
            count = models.CountRequest.model_validate(body or {})
            exact = True if count.exact is None else count.exact
            return {"count": self.client.count(name, count_filter=count.filter, exact=exact).count}
        if op == "query":
            query = models.QueryRequest.model_validate(body or {})
            response = self.client.query_points(
                name,
                query=query.query,
                using=query.using,
                prefetch=query.prefetch,
                query_filter=query.filter,
                search_params=query.params,
                limit=query.limit or 10,
                offset=query.offset,
                score_threshold=query.score_threshold,
                with_payload=query.with_payload if query.with_payload is not None else False,
                with_vectors=query.with_vector if query.with_vector is not None else False,
            )
            return {"points": [p.model_dump(mode="json", exclude_none=True) for p in response.points]}
        if op == "scroll":
            scroll = models.ScrollRequest.model_validate(body or {})
            records, next_offset = self.client.scroll(
                name,
                scroll_filter=scroll.filter,
                limit=scroll.limit or 10,
                offset=scroll.offset,
                with_payload=scroll.with_payload if scroll.with_payload is not None else True,
                with_vectors=scroll.with_vector if scroll.with_vector is not None else False,
            )
            return {"points": [r.model_dump(mode="json", exclude_none=True) for r in records],
                    "next_page_offset": next_offset}
        raise QdrantError(404, f"Not found: {request.url.path} (not served by the ragops Qdrant stand-in)")

    # --- cluster: a single peer holding the one shard of each collection ---

    async def cluster(self, request: Request) -> Any:
        name = self._existing(request)
        if request.method == "POST":
            raise QdrantError(400, "Bad request: the ragops Qdrant stand-in is a single node: no cluster operations")
        count = self.client.count(name, exact=True).count
        return {"peer_id": PEER_ID, "shard_count": 1, "remote_shards": [], "shard_transfers": [],
                "local_shards": [{"shard_id": 0, "points_count": count, "state": "Active"}]}

    # --- snapshots (the stand-in's own JSON format) ---

    def _snapshot_dir(self, name: str, request: Request | None = None) -> Path:
        path = self.settings.snapshots_path / name
        if request is not None and "shard" in request.path_params:
            shard = int(request.path_params["shard"])
            if shard != 0:
                raise QdrantError(404, f"Not found: shard {shard} of `{name}` (the stand-in has shard 0 only)")
            path = path / "shards" / "0"
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def snapshots(self, request: Request) -> Any:
        name = self._existing(request)
        folder = self._snapshot_dir(name, request)
        if request.method == "GET":
            return [_describe(p) for p in sorted(folder.glob("*" + SNAPSHOT_SUFFIX))]
        vectors = self.client.get_collection(name).config.params.vectors or {}
        records: list[models.Record] = []
        offset: Any = None
        while True:
            page, offset = self.client.scroll(name, limit=1000, offset=offset, with_payload=True, with_vectors=True)
            records.extend(page)
            if offset is None:
                break
        content = json.dumps({
            "format": STANDIN,
            "collection": name,
            "vectors": _VECTORS.dump_python(vectors, mode="json", exclude_none=True),
            "points": [{"id": r.id, "vector": r.vector, "payload": r.payload} for r in records],
        }).encode()
        file = folder / f"{name}-standin-{datetime.now(UTC):%Y-%m-%d-%H-%M-%S-%f}{SNAPSHOT_SUFFIX}"
        file.with_suffix(".tmp").write_bytes(content)
        file.with_suffix(".tmp").rename(file)
        log.info("snapshot %s: %d points, %d bytes", file.name, len(records), len(content))
        return _describe(file)

    async def snapshot(self, request: Request) -> Any:
        name = self._existing(request)
        file = self._snapshot_dir(name, request) / Path(request.path_params["s"]).name
        if not file.is_file():
            raise QdrantError(404, f"Not found: Snapshot {file.name} not found")
        if request.method == "GET":
            return FileResponse(file, media_type="application/octet-stream")
        file.unlink()
        return True

    async def upload(self, request: Request) -> Any:
        name = str(request.path_params["c"])
        data = _multipart_field(request.headers.get("content-type", ""), await request.body(), "snapshot")
        if data is None:
            raise QdrantError(400, "Bad request: multipart field `snapshot` is missing")
        expected = request.query_params.get("checksum")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise QdrantError(400, "Bad request: Snapshot checksum mismatch")
        snapshot = json.loads(data)
        if snapshot.get("format") != STANDIN:
            raise QdrantError(400, "Bad request: not a snapshot of the ragops Qdrant stand-in")
        points = [models.PointStruct(**p) for p in snapshot["points"]]
        if "shard" in request.path_params:
            # A shard recovers into the collection this node holds (its configuration stays): replace the points.
            self._snapshot_dir(self._existing(request), request)
            self.client.delete(name, models.FilterSelector(filter=models.Filter()))
        else:
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
            self.client.create_collection(name, vectors_config=_VECTORS.validate_python(snapshot["vectors"]))
        for start in range(0, len(points), UPSERT_BATCH):
            self.client.upsert(name, points=points[start : start + UPSERT_BATCH])
        log.info("recovered collection %s from an uploaded snapshot: %d points", name, len(points))
        return True


async def _json(request: Request) -> Any:
    body = await request.body()
    return json.loads(body) if body else None


def _describe(file: Path) -> dict[str, Any]:
    stat = file.stat()
    return {
        "name": file.name,
        "creation_time": datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "size": stat.st_size,
        "checksum": hashlib.sha256(file.read_bytes()).hexdigest(),
    }


def _multipart_field(content_type: str, body: bytes, name: str) -> bytes | None:
    # The standard library's MIME parser reads multipart/form-data once given its Content-Type.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    for part in message.iter_parts():  # type: ignore[attr-defined]
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def _headers(response: Response) -> Response:
    response.headers["server"] = "ragops-qdrant-standin"
    return response


def _error(status: int, message: str, start: float) -> Response:
    body = {"status": {"error": message}, "time": time.perf_counter() - start}
    return _headers(JSONResponse(body, status_code=status))
