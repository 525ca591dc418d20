"""Take a backup: a snapshot of every shard of every collection, streamed to the destination, manifest last.

Each shard is snapshotted once, on a node holding an Active replica of it (format 2). Collection snapshots
(format 1: one per node, each with that node's replicas) cannot be restored onto a cluster correctly: the
recovering nodes re-place the shards and disagree on who holds what (issue 16). The manifest records the
collection's configuration, payload indexes and shard placement, so a restore recreates the collection,
puts the replicas back where they were (or lets Qdrant place them on a cluster of another size) and
recovers each shard from its own snapshot.

A failed run removes what it wrote of its own backup and never touches the others; retention runs only
after the manifest is written, so a failing store never loses its previous good backups.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from ragops.backup.catalog import expired, list_backups
from ragops.backup.errors import BackupError
from ragops.backup.layout import StoreRef, backup_prefix, manifest_key, shard_file
from ragops.backup.manifest import CollectionBackup, Manifest, ShardFile
from ragops.backup.storage import Storage, Writer
from ragops.qdrant.cluster import View, peers_by_node, placement, problems
from ragops.qdrant.config import create_body, payload_indexes
from ragops.qdrant.snapshots import QdrantError, QdrantNode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupResult:
    manifest: Manifest
    pruned: list[str]
    already_complete: bool  # a retried Job found its backup done and only pruned


async def backup(
    storage: Storage,
    store: StoreRef,
    name: str,
    node_urls: list[str],
    api_key: str | None,
    *,
    retention: timedelta,
    now: datetime,
) -> BackupResult:
    """Take backup `name` of `store` unless it is already complete, then prune expired backups."""
    existing = await asyncio.to_thread(_read_manifest, storage, store, name)
    if existing is not None:
        # The Job's name is the backup's name: a retried Job whose first attempt got this far must not fail
        # on its own result.
        log.info("backup %s is already complete (%s exists): not taking it again", name, "manifest.json")
        manifest = existing
    else:
        manifest = await take(storage, store, name, node_urls, api_key, now=now)
    try:
        pruned = await asyncio.to_thread(prune, storage, store, retention, now, keep=name)
    except Exception as error:
        raise BackupError(f"backup {name} is complete, but pruning expired backups failed: {error}") from error
    return BackupResult(manifest, pruned, existing is not None)


async def take(
    storage: Storage, store: StoreRef, name: str, node_urls: list[str], api_key: str | None, *, now: datetime
) -> Manifest:
    prefix = backup_prefix(store, name)
    if await asyncio.to_thread(storage.list, prefix):
        log.warning("removing the files of an earlier incomplete attempt at backup %s", name)
        await asyncio.to_thread(storage.delete_tree, prefix)
    nodes = [QdrantNode(url, api_key) for url in node_urls]
    try:
        manifest = await _snapshot_all(storage, store, name, nodes, now)
        await asyncio.to_thread(storage.put_bytes, manifest_key(store, name), manifest.to_json())
        return manifest
    except BaseException:
        await _discard(storage, prefix)
        raise
    finally:
        for node in nodes:
            await node.aclose()


def prune(storage: Storage, store: StoreRef, retention: timedelta, now: datetime, *, keep: str) -> list[str]:
    """Delete backups of `store` older than `retention`, complete or leftovers; return their names."""
    names = []
    for info in expired(list_backups(storage, store), now, retention, keep=keep):
        log.info("pruning %s backup %s from %s", "expired" if info.complete else "incomplete", info.name, info.time)
        storage.delete_tree(backup_prefix(store, info.name))
        names.append(info.name)
    return names


async def _snapshot_all(
    storage: Storage, store: StoreRef, name: str, nodes: list[QdrantNode], now: datetime
) -> Manifest:
    version = await _common_version(nodes)
    collections = await nodes[0].collections()
    if not collections:
        log.warning("store %s has no collections: the backup records an empty store", store)
    entries = [await _collection(storage, store, name, nodes, collection) for collection in collections]
    return Manifest(
        name=name,
        store=str(store),
        created_at=now,
        completed_at=datetime.now(UTC),
        qdrant_version=version,
        nodes=len(nodes),
        collections=entries,
    )


async def _collection(
    storage: Storage, store: StoreRef, name: str, nodes: list[QdrantNode], collection: str
) -> CollectionBackup:
    views = [View.of(i, await node.cluster(collection)) for i, node in enumerate(nodes)]
    node_of_peer = {peer: node for node, peer in peers_by_node(views).items()}
    info = await nodes[0].info(collection)
    shard_count = int(info["config"]["params"].get("shard_number") or 1)
    sources = _sources(views, collection, shard_count)
    points = await nodes[0].count(collection)
    where = placement(views[0], node_of_peer)
    files = [
        await _snapshot(storage, store, name, nodes[source], source, collection, shard, where.get(shard, [source]))
        for shard, source in sorted(sources.items())
    ]
    after = await nodes[0].count(collection)
    if after != points:
        log.warning(
            "collection %s: %d points before its snapshots and %d after: writes during the backup; "
            "a restore brings back the snapshots' content",
            collection,
            points,
            after,
        )
    log.info("collection %s: %d points, %d bytes in %d shard snapshot(s)", collection, points, _size(files), len(files))
    return CollectionBackup(
        name=collection,
        points=points,
        points_after=after,
        shards=files,
        config=create_body(info["config"]),
        payload_indexes=payload_indexes(info.get("payload_schema") or {}),
    )


def _sources(views: list[View], collection: str, shard_count: int) -> dict[int, int]:
    """shard -> ordinal of the node to snapshot it on: the first node whose own replica is Active.

    A shard transfer under way, or views that disagree, fail the backup: the placement it would record
    is not one the cluster has settled on."""
    unsettled = [p for p in problems(views) if "transfer" in p or "disagree" in p or "none of the store" in p]
    if unsettled:
        raise BackupError(f"collection {collection}: the cluster is not settled ({'; '.join(unsettled)}); retry later")
    sources: dict[int, int] = {}
    for shard in range(shard_count):
        for view in views:
            if view.replicas.get(shard, {}).get(view.peer) == "Active":
                sources[shard] = view.node
                break
        else:
            raise BackupError(
                f"collection {collection}: no node holds an Active replica of shard {shard}; "
                "the shard's data cannot be backed up until it recovers"
            )
    return sources


async def _common_version(nodes: list[QdrantNode]) -> str:
    versions = [await node.version() for node in nodes]
    if len(set(versions)) > 1:
        listing = ", ".join(f"node {i}: {v}" for i, v in enumerate(versions))
        raise BackupError(f"Qdrant nodes run different versions ({listing}); retry once the upgrade is done")
    return versions[0]


async def _snapshot(
    storage: Storage,
    store: StoreRef,
    name: str,
    node: QdrantNode,
    index: int,
    collection: str,
    shard: int,
    holders: list[int],
) -> ShardFile:
    description = await node.create_shard_snapshot(collection, shard)
    file = shard_file(collection, shard)
    key = backup_prefix(store, name) + file
    what = f"{collection} shard {shard} on node {index}"
    try:
        writer = await asyncio.to_thread(storage.writer, key)
        digest = hashlib.sha256()
        size = 0
        try:
            async with node.download_shard(collection, shard, description.name) as chunks:
                async for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(writer.write, chunk)
            _check(description.checksum, digest.hexdigest(), description.size, size, what)
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await _abort(writer, key)
            raise
    finally:
        # Snapshots take node disk space: remove this one whatever happened to its copy.
        try:
            await node.delete_shard_snapshot(collection, shard, description.name)
        except QdrantError as error:
            log.warning("could not delete snapshot %s from node %d: %s", description.name, index, error)
    return ShardFile(shard=shard, nodes=holders, source=index, file=file, size=size, sha256=digest.hexdigest())


def _check(expected_sha: str | None, sha: str, expected_size: int, size: int, what: str) -> None:
    # Qdrant reports the snapshot's sha256 and size: a short or altered download must not become a backup.
    if expected_sha and expected_sha != sha:
        raise BackupError(f"snapshot of {what} arrived corrupted: sha256 {sha}, Qdrant reported {expected_sha}")
    if expected_size and expected_size != size:
        raise BackupError(f"snapshot of {what} arrived truncated: {size} bytes, Qdrant reported {expected_size}")


async def _abort(writer: Writer, key: str) -> None:
    # A failing cleanup must not hide the failure that caused it: that one is the Job's error line.
    try:
        await asyncio.to_thread(writer.abort)
    except Exception as error:
        log.warning("could not abort the upload of %s: %s", key, error)


async def _discard(storage: Storage, prefix: str) -> None:
    try:
        await asyncio.to_thread(storage.delete_tree, prefix)
    except Exception as error:  # the leftover has no manifest, so it is never used; retention removes it
        log.warning("could not remove the incomplete backup at %s: %s", storage.where(prefix), error)


def _read_manifest(storage: Storage, store: StoreRef, name: str) -> Manifest | None:
    data = storage.get_bytes(manifest_key(store, name))
    if data is None:
        return None
    try:
        return Manifest.from_json(data)
    except ValidationError:
        log.warning("backup %s has an unreadable manifest: taking it again", name)
        return None


def _size(files: list[ShardFile]) -> int:
    return sum(f.size for f in files)
