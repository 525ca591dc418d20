"""Backup and restore judge the cluster's replica state, not only the HTTP answers (issue 16): a restore
reports success only once every node's view shows every replica Active, and its count is then checked.

The cluster double (tests/qdrant/double.py) can show Dead replicas and a phantom replica listing; the real
server's behaviour is covered by tests/real_qdrant.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qdrant_client.http.api import collections_api, distributed_api, indexes_api, points_api, service_api, snapshots_api

from ragops.backup.layout import StoreRef, backup_prefix, manifest_key
from ragops.backup.manifest import CollectionBackup, Manifest, SnapshotFile
from ragops.backup.storage import PvcStorage
from ragops.qdrant.snapshots import QdrantNode
from tests.backup.conftest import API_KEY, STORE, backup, fill, restore
from tests.qdrant.double import Running
from tests.qdrant.test_snapshots import endpoint


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_restore_fails_while_a_replica_stays_dead(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)
    target.cluster.dead.add(("faq", 1))

    assert restore(target, "b1", "--pvc-path", str(tmp_path), settle_timeout=0.2) == 1

    [line] = errors(caplog)
    assert "collection faq: replicas not all Active after 0s" in line
    assert "node 0 sees the replica of shard 1 on node 1 as Dead" in line


def test_restore_fails_when_nodes_disagree_on_the_replicas(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)
    target.cluster.phantom = True  # node 0 believes node 1 holds every shard, as after issue 16's restore

    assert restore(target, "b1", "--pvc-path", str(tmp_path), settle_timeout=0.2) == 1

    [line] = errors(caplog)
    assert "node 1 and node 0 disagree on where the shards are" in line


def test_restore_fails_when_a_quiet_backup_comes_back_short(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    manifest_path = tmp_path / STORE / "b1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for collection in manifest["collections"]:
        if collection["name"] == "manuals":  # as if a shard's snapshot had lost a point
            collection["points"] = collection["pointsAfter"] = 12
    manifest_path.write_text(json.dumps(manifest))

    assert restore(clusters(nodes=2), "b1", "--pvc-path", str(tmp_path)) == 1

    [line] = errors(caplog)
    assert "collection manuals: 11 points after the restore, but the backup holds 12" in line


def test_backup_fails_when_a_shard_has_no_active_replica(
    source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source.cluster.dead.add(("manuals", 1))

    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 1

    [line] = errors(caplog)
    assert "collection manuals: no node holds an Active replica of shard 1" in line
    assert not (tmp_path / STORE / "b1").exists()


def test_payload_indexes_come_back(source: Running, clusters: Callable[..., Running], tmp_path: Path) -> None:
    source.cluster.indexes["manuals"]["title"] = "keyword"
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 0

    assert target.cluster.indexes["manuals"] == {"title": "keyword"}


async def _plant_format_1(running: Running, root: Path, name: str) -> None:
    """A backup taken by an earlier ragops: one collection snapshot per node."""
    storage, store = PvcStorage(root), StoreRef.parse(STORE)
    files = []
    for index, url in enumerate(running.node_urls()):
        async with QdrantNode(url, API_KEY) as node:
            snapshot = await node.create_snapshot("manuals")
            async with node.download("manuals", snapshot.name) as chunks:
                data = b"".join([chunk async for chunk in chunks])
        key = f"manuals/node-{index}.snapshot"
        storage.put_bytes(backup_prefix(store, name) + key, data)
        files.append(SnapshotFile(node=index, file=key, size=len(data), sha256=snapshot.checksum or ""))
    manifest = Manifest(
        format=1,
        name=name,
        store=STORE,
        created_at=datetime(2026, 11, 1, 2, tzinfo=UTC),
        completed_at=datetime(2026, 11, 1, 2, 1, tzinfo=UTC),
        qdrant_version="1.20.0",
        nodes=len(files),
        collections=[CollectionBackup(name="manuals", points=4, snapshots=files)],
    )
    storage.put_bytes(manifest_key(store, name), manifest.to_json())


async def test_a_format_1_backup_restores_node_for_node(
    clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = clusters(nodes=2)
    fill(old, "manuals", 4)
    await _plant_format_1(old, tmp_path, "old")
    target = clusters(nodes=2)

    # run_restore runs its own event loop: off this test's loop.
    assert await asyncio.to_thread(restore, target, "old", "--pvc-path", str(tmp_path)) == 0
    assert target.cluster.points("manuals") == old.cluster.points("manuals")

    assert await asyncio.to_thread(restore, clusters(nodes=3), "old", "--pvc-path", str(tmp_path)) == 1
    assert "taken from 2 Qdrant node(s) and this store has 3" in caplog.text


def test_every_call_of_a_backup_and_restore_is_one_qdrant_documents(
    source: Running, clusters: Callable[..., Running], tmp_path: Path
) -> None:
    source.cluster.indexes["faq"]["title"] = "keyword"
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)
    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 0

    declared = [
        endpoint(module, operation)[:2]
        for module, operations in [
            (service_api, ["root"]),
            (collections_api, ["get_collections", "get_collection", "create_collection", "delete_collection"]),
            (distributed_api, ["collection_cluster_info"]),
            (indexes_api, ["create_field_index"]),
            (points_api, ["count_points"]),
            (snapshots_api, ["create_shard_snapshot", "delete_shard_snapshot", "recover_shard_from_uploaded_snapshot"]),
        ]
        for operation in operations
    ] + [("GET", "/collections/{collection_name}/shards/{shard_id}/snapshots/{snapshot_name}")]  # a file
    calls = source.cluster.calls + target.cluster.calls
    for call in calls:
        path = re.sub(r"^/node-\d+", "", call.path)
        assert any(
            call.method == method and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path)
            for method, template in declared
        ), (call.method, path)
    uploads = [c for c in target.cluster.calls if c.path.endswith("/upload")]
    assert sorted(c.path for c in uploads) == sorted(
        f"/node-{s}/collections/{c}/shards/{s}/snapshots/upload" for c in ("faq", "manuals") for s in (0, 1)
    )
    assert all(c.query["priority"] == "snapshot" and len(c.query["checksum"]) == 64 for c in uploads)
