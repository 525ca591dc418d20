"""Restore a backup: recreate each collection, put its shards where they were, recover every shard from its
snapshot, wait until every replica is Active in every node's view, then count.

Format 2 (shard snapshots, see ragops.backup.backup): the collection is created from the configuration the
backup recorded; on a cluster of the backup's size the replicas are moved to the nodes that held them (by
ordinal), on a cluster of another size Qdrant's own placement stands; each shard's snapshot is uploaded to
one node holding a replica, with snapshot priority, and Qdrant re-synchronises the shard's other replicas
from it. Format 1 (one collection snapshot per node) is still restored node for node, then checked the same
way: on a cluster that restore can leave replicas Qdrant disagrees about, which the check reports.

Everything that can be checked without changing Qdrant is checked first (manifest, node count, version,
collections that hold points), so a refused restore changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import ValidationError

from ragops.backup.errors import BackupError
from ragops.backup.layout import StoreRef, backup_prefix, manifest_key
from ragops.backup.manifest import CollectionBackup, Manifest, ShardFile, SnapshotFile
from ragops.backup.storage import Storage
from ragops.qdrant.cluster import View, peers_by_node, placement_operations, problems
from ragops.qdrant.snapshots import QdrantError, QdrantNode, Upload

log = logging.getLogger(__name__)

SETTLE_SECONDS = 600.0  # for replicas to become Active after a recovery or a shard move
POLL_SECONDS = 0.5
_MINOR = re.compile(r"^v?(\d+)\.(\d+)")


@dataclass(frozen=True)
class Restored:
    collection: str
    points_in_backup: int
    points_now: int


def read_manifest(storage: Storage, store: StoreRef, name: str) -> Manifest:
    key = manifest_key(store, name)
    data = storage.get_bytes(key)
    if data is None:
        raise BackupError(
            f"backup {name} of {store} not found or incomplete: no {storage.where(key)} "
            "(only backups with a manifest can be restored)"
        )
    try:
        return Manifest.from_json(data)
    except ValidationError as error:
        raise BackupError(f"manifest of backup {name} is unreadable ({error.error_count()} errors)") from error


async def restore(
    storage: Storage,
    store: StoreRef,
    name: str,
    node_urls: list[str],
    api_key: str | None,
    *,
    overwrite: bool,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[Restored]:
    manifest = await asyncio.to_thread(read_manifest, storage, store, name)
    by_shard = all(c.config is not None for c in manifest.collections)
    if not by_shard and manifest.nodes != len(node_urls):
        raise BackupError(
            f"backup {name} was taken from {manifest.nodes} Qdrant node(s) and this store has {len(node_urls)}: "
            "its snapshots are per node (format 1), so restore needs the same number of nodes"
        )
    nodes = [QdrantNode(url, api_key) for url in node_urls]
    prefix = backup_prefix(store, name)
    try:
        await _check_versions(nodes, manifest.qdrant_version, name)
        await _refuse_non_empty(nodes[0], manifest, overwrite)
        results = []
        for collection in manifest.collections:
            if collection.config is not None:
                await _restore_shards(storage, prefix, nodes, manifest, collection, settle_seconds)
            else:
                # Node 0 first: on a cluster, the first recovery creates the collection for every node.
                for snapshot in sorted(collection.snapshots, key=lambda s: s.node):
                    await _recover(storage, prefix, nodes[snapshot.node], collection.name, snapshot)
                await settle(nodes, collection.name, settle_seconds)
            results.append(await _counted(nodes[0], collection))
        return results
    finally:
        for node in nodes:
            await node.aclose()


async def _restore_shards(
    storage: Storage,
    prefix: str,
    nodes: list[QdrantNode],
    manifest: Manifest,
    collection: CollectionBackup,
    settle_seconds: float,
) -> None:
    name = collection.name
    assert collection.config is not None
    if name in await nodes[0].collections():
        # Overwrite (or an empty collection, e.g. the operator's): the backup's configuration replaces it,
        # since its shard count and vectors are what the snapshots need.
        log.info("deleting the existing collection %s before restoring it", name)
        await nodes[0].delete_collection(name)
    await nodes[0].create_collection(name, collection.config)
    for field, schema in collection.payload_indexes.items():
        await nodes[0].create_index(name, field, schema)
    views = await settle(nodes, name, settle_seconds)
    same_size = manifest.nodes == len(nodes)
    if same_size:
        views = await _place(nodes, name, collection.shards, views, settle_seconds)
    else:
        log.info(
            "collection %s: backup of %d node(s) restored onto %d: Qdrant places the shards",
            name,
            manifest.nodes,
            len(nodes),
        )
    node_of_peer = {peer: node for node, peer in peers_by_node(views).items()}
    holders = views[0].holders()
    for shard in sorted(collection.shards, key=lambda f: f.shard):
        on = sorted(node_of_peer[p] for p in holders.get(shard.shard, set()) if p in node_of_peer)
        if not on:
            raise BackupError(f"collection {name}: no node holds shard {shard.shard} after creating the collection")
        # The node that was snapshotted, when it holds the shard again; else the first holder.
        target = shard.source if same_size and shard.source in on else on[0]
        await _recover_shard(storage, prefix, nodes[target], target, name, shard)
    await settle(nodes, name, settle_seconds)


async def _place(
    nodes: list[QdrantNode], name: str, shards: list[ShardFile], views: list[View], settle_seconds: float
) -> list[View]:
    """Move, add or drop replicas of the (still empty) collection until each shard sits on the nodes that
    held it when the backup was taken. One operation at a time: transfers of one shard conflict."""
    peer_of = peers_by_node(views)
    desired = {f.shard: {peer_of[n] for n in f.nodes if n in peer_of} for f in shards}
    for _ in range(4 * max(1, sum(len(f.nodes) + 1 for f in shards))):
        operations = placement_operations(views[0].holders(), desired)
        if not operations:
            return views
        log.info("collection %s: %s", name, operations[0])
        await nodes[0].cluster_operation(name, operations[0])
        views = await settle(nodes, name, settle_seconds)
    raise BackupError(f"collection {name}: shard placement did not converge to the backup's")


async def settle(nodes: list[QdrantNode], name: str, timeout: float) -> list[View]:
    """Every node's view of collection `name`, once they agree and every replica is Active with no transfer
    under way; a BackupError naming what is still wrong after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        views, found = [], []
        for i, node in enumerate(nodes):
            try:
                views.append(View.of(i, await node.cluster(name)))
            except QdrantError as error:
                if error.status != 404:
                    raise
                # Consensus has not brought the new collection to this node yet.
                found.append(f"node {i} does not know the collection yet")
        found += problems(views)
        if not found:
            return views
        if asyncio.get_running_loop().time() >= deadline:
            raise BackupError(f"collection {name}: replicas not all Active after {timeout:.0f}s: {'; '.join(found)}")
        await asyncio.sleep(POLL_SECONDS)


async def _counted(node: QdrantNode, collection: CollectionBackup) -> Restored:
    points = await node.count(collection.name)
    log.info("restored collection %s: %d points", collection.name, points)
    if collection.stable and points != collection.points:
        raise BackupError(
            f"collection {collection.name}: {points} points after the restore, but the backup holds "
            f"{collection.points} (its count did not change while it was taken): the restore is incomplete"
        )
    return Restored(collection.name, collection.points, points)


async def _check_versions(nodes: list[QdrantNode], backed_up: str, name: str) -> None:
    for index, node in enumerate(nodes):
        running = await node.version()
        if _minor(running) != _minor(backed_up):
            raise BackupError(
                f"backup {name} was taken with Qdrant {backed_up} and node {index} runs {running}: snapshots "
                f"restore only into the same minor version; run Qdrant {backed_up} to restore, then upgrade"
            )


def _minor(version: str) -> tuple[int, int] | str:
    match = _MINOR.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else version


async def _refuse_non_empty(node: QdrantNode, manifest: Manifest, overwrite: bool) -> None:
    live = set(await node.collections())
    holding = []
    for collection in manifest.collections:
        if collection.name in live:
            points = await node.count(collection.name)
            if points > 0:
                holding.append(f"{collection.name} ({points} points)")
    if holding and not overwrite:
        raise BackupError(
            f"refusing to replace collections that hold points: {', '.join(holding)}; "
            "restore with --overwrite (spec.restore.overwrite: true) to replace them"
        )
    if holding:
        log.warning("replacing collections that hold points (--overwrite): %s", ", ".join(holding))


async def _recover(storage: Storage, prefix: str, node: QdrantNode, collection: str, snapshot: SnapshotFile) -> None:
    log.info("recovering collection %s on node %d from %d bytes", collection, snapshot.node, snapshot.size)
    async with _verified_stream(storage, prefix, snapshot) as upload:
        await node.recover(collection, upload, checksum=snapshot.sha256)


async def _recover_shard(
    storage: Storage, prefix: str, node: QdrantNode, index: int, collection: str, shard: ShardFile
) -> None:
    log.info("recovering collection %s shard %d on node %d from %d bytes", collection, shard.shard, index, shard.size)
    async with _verified_stream(storage, prefix, shard) as upload:
        await node.recover_shard(collection, shard.shard, upload, checksum=shard.sha256)


@asynccontextmanager
async def _verified_stream(storage: Storage, prefix: str, entry: SnapshotFile | ShardFile) -> AsyncIterator[Upload]:
    """The stored snapshot streamed from storage to Qdrant, never staged in a local file.

    Qdrant checks the upload against the manifest's sha256 (the `checksum` parameter) before replacing
    anything; the stream is measured too, so a damaged backup is named as such rather than as Qdrant's
    checksum error, and a short one is never sent as if complete."""
    key = prefix + entry.file
    where = storage.where(key)
    context = storage.chunks(key)
    try:
        source = await asyncio.to_thread(context.__enter__)
    except FileNotFoundError as error:
        raise BackupError(f"{where} is missing: the backup is damaged") from error
    digest = hashlib.sha256()
    seen = 0

    def damaged() -> BackupError:
        return BackupError(
            f"{where} does not match the manifest ({seen}+ bytes read, expected {entry.size} bytes, "
            f"sha256 {entry.sha256}): not restored; the backup is damaged"
        )

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal seen
        while chunk := await asyncio.to_thread(next, source, b""):
            seen += len(chunk)
            if seen > entry.size:
                raise damaged()
            digest.update(chunk)
            yield chunk
        if seen != entry.size or digest.hexdigest() != entry.sha256:
            raise damaged()

    try:
        yield Upload(entry.file.rsplit("/", 1)[-1], entry.size, chunks())
        if seen != entry.size or digest.hexdigest() != entry.sha256:
            raise damaged()
    finally:
        await asyncio.to_thread(context.__exit__, None, None, None)
