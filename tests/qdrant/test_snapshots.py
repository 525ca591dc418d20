"""QdrantNode (per-node snapshot REST calls) against the cluster test double (tests/qdrant/double.py).

The double's answers are first checked against qdrant-client's own description of each endpoint (method,
path and response model from its generated API), so both the double and QdrantNode follow Qdrant's shapes.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from qdrant_client import models
from qdrant_client.http.api import collections_api, points_api, service_api, snapshots_api

from ragops.qdrant.snapshots import QdrantError, QdrantNode
from tests.qdrant.conftest import API_KEY
from tests.qdrant.double import Running


def endpoint(module: Any, operation: str) -> tuple[str, str, type[BaseModel]]:
    """(method, path template, response model) that qdrant-client declares for an operation."""
    api = next(c for _, c in inspect.getmembers(module, inspect.isclass) if hasattr(c, f"_build_for_{operation}"))
    source = inspect.getsource(getattr(api, f"_build_for_{operation}"))
    method = re.search(r'method="(\w+)"', source)
    url = re.search(r'url="([^"]+)"', source)
    model = re.search(r"type_=m\.(\w+),", source)
    assert method and url and model, f"cannot read qdrant-client's declaration of {operation}"
    return method.group(1), url.group(1), getattr(models, model.group(1))


def seed(qdrant: Running, collection: str = "manuals", count: int = 6) -> None:
    qdrant.cluster.create_collection(collection, size=3)
    qdrant.cluster.upsert(
        collection,
        [models.PointStruct(id=i, vector=[float(i), 1.0, 0.5], payload={"n": i}) for i in range(count)],
    )


def test_double_answers_in_qdrant_client_shapes(qdrant: Running) -> None:
    seed(qdrant)
    base = qdrant.node_urls()[1]
    headers = {"api-key": API_KEY}
    with httpx.Client(base_url=base, headers=headers) as http:

        def call(module: Any, operation: str, json: Any = None, **path: str) -> Any:
            method, template, model = endpoint(module, operation)
            response = http.request(method, template.format(**path), json=json, params={"wait": "true"})
            assert response.status_code == 200, response.text
            parsed = model.model_validate(response.json())
            if model is not models.VersionInfo:
                assert response.json()["status"] == "ok" and parsed.result is not None  # type: ignore[attr-defined]
            return parsed

        assert call(service_api, "root").version
        assert [c.name for c in call(collections_api, "get_collections").result.collections] == ["manuals"]
        assert call(points_api, "count_points", json={"exact": True}, collection_name="manuals").result.count == 6
        created = call(snapshots_api, "create_snapshot", collection_name="manuals").result
        listed = call(snapshots_api, "list_snapshots", collection_name="manuals").result
        assert [s.name for s in listed] == [created.name]
        assert call(snapshots_api, "delete_snapshot", collection_name="manuals", snapshot_name=created.name).result


async def test_snapshot_create_download_delete(qdrant: Running, tmp_path: Path) -> None:
    seed(qdrant)
    async with QdrantNode(qdrant.node_urls()[1], API_KEY) as node:
        assert await node.version() == "1.20.0"
        assert await node.collections() == ["manuals"]
        assert await node.count("manuals") == 6
        snapshot = await node.create_snapshot("manuals")
        assert [s.name for s in await node.list_snapshots("manuals")] == [snapshot.name]
        async with node.download("manuals", snapshot.name) as chunks:
            data = b"".join([chunk async for chunk in chunks])
        await node.delete_snapshot("manuals", snapshot.name)
        assert await node.list_snapshots("manuals") == []

    assert (len(data), hashlib.sha256(data).hexdigest()) == (snapshot.size, snapshot.checksum)
    assert qdrant.cluster.snapshot_files() == []
    # Node 1's snapshot holds node 1's shard only (odd ids in the double).
    assert b'"id": 1,' in data and b'"id": 2,' not in data
    assert {call.api_key for call in qdrant.cluster.calls} == {API_KEY}
    # Every request QdrantNode made is one qdrant-client declares (same method, same path template).
    declared = [
        endpoint(module, op)[:2]
        for module, ops in [
            (service_api, ["root"]),
            (collections_api, ["get_collections"]),
            (points_api, ["count_points"]),
            (snapshots_api, ["create_snapshot", "list_snapshots", "delete_snapshot"]),
        ]
        for op in ops
    ] + [("GET", "/collections/{collection_name}/snapshots/{snapshot_name}")]  # get_snapshot returns a file
    for call in qdrant.cluster.calls:
        path = call.path.removeprefix("/node-1")
        assert any(
            call.method == method and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path)
            for method, template in declared
        ), (call.method, path)


async def test_recover_uploads_with_snapshot_priority_and_checksum(qdrant: Running, tmp_path: Path) -> None:
    seed(qdrant)
    async with QdrantNode(qdrant.node_urls()[0], API_KEY) as node:
        snapshot = await node.create_snapshot("manuals")
        file = tmp_path / "node-0.snapshot"
        async with node.download("manuals", snapshot.name) as chunks:
            file.write_bytes(b"".join([chunk async for chunk in chunks]))
        qdrant.cluster.upsert("manuals", [models.PointStruct(id=100, vector=[0.0, 0.0, 1.0])])
        assert await node.count("manuals") == 7

        await node.recover("manuals", file, checksum=snapshot.checksum)

        assert await node.count("manuals") == 6
    upload = qdrant.cluster.calls[-2]
    assert upload.path == "/node-0/collections/manuals/snapshots/upload"
    assert upload.query == {"priority": "snapshot", "wait": "true", "checksum": snapshot.checksum}


async def test_recover_with_wrong_checksum_is_refused(qdrant: Running, tmp_path: Path) -> None:
    seed(qdrant)
    file = tmp_path / "x.snapshot"
    file.write_bytes(b"{}")
    async with QdrantNode(qdrant.node_urls()[0], API_KEY) as node:
        with pytest.raises(QdrantError, match="HTTP 400: Bad request: Snapshot checksum mismatch"):
            await node.recover("manuals", file, checksum="0" * 64)


async def test_errors_name_the_call_and_never_the_key(qdrant: Running) -> None:
    async with QdrantNode(qdrant.node_urls()[0], "wrong-key-123") as node:
        with pytest.raises(QdrantError) as denied:
            await node.collections()
    assert "GET /collections: HTTP 401" in str(denied.value) and "wrong-key-123" not in str(denied.value)

    async with QdrantNode(qdrant.node_urls()[0], API_KEY) as node:
        with pytest.raises(QdrantError, match=r"POST /collections/nope/snapshots: HTTP 404: Not found: Collection"):
            await node.create_snapshot("nope")
        seed(qdrant)
        with pytest.raises(QdrantError, match="HTTP 404"):
            async with node.download("manuals", "missing.snapshot"):
                pass


async def test_unreachable_node_is_a_qdrant_error() -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        # Bound but not listening: connections are refused.
        async with QdrantNode(f"http://127.0.0.1:{port}", None, timeout=2) as node:
            with pytest.raises(QdrantError, match="ConnectError"):
                await node.version()


async def test_interrupted_download_is_a_qdrant_error(qdrant: Running) -> None:
    seed(qdrant)
    qdrant.cluster.fail_download.add(("manuals", 0))
    async with QdrantNode(qdrant.node_urls()[0], API_KEY) as node:
        snapshot = await node.create_snapshot("manuals")
        with pytest.raises(QdrantError, match="RemoteProtocolError"):
            async with node.download("manuals", snapshot.name) as chunks:
                async for _ in chunks:
                    pass
