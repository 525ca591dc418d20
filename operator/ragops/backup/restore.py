"""Restore a backup: node i's snapshot of each collection recovered on node i.

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
from pathlib import Path

from pydantic import ValidationError

from ragops.backup.errors import BackupError
from ragops.backup.layout import StoreRef, backup_prefix, manifest_key
from ragops.backup.manifest import Manifest, SnapshotFile
from ragops.backup.storage import Storage
from ragops.qdrant.snapshots import QdrantNode

log = logging.getLogger(__name__)

HASH_CHUNK = 1024 * 1024
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
    storage: Storage, store: StoreRef, name: str, node_urls: list[str], api_key: str | None, *, overwrite: bool
) -> list[Restored]:
    manifest = await asyncio.to_thread(read_manifest, storage, store, name)
    if manifest.nodes != len(node_urls):
        raise BackupError(
            f"backup {name} was taken from {manifest.nodes} Qdrant node(s) and this store has {len(node_urls)}: "
            "snapshots are per node, so restore needs the same number of nodes"
        )
    nodes = [QdrantNode(url, api_key) for url in node_urls]
    try:
        await _check_versions(nodes, manifest.qdrant_version, name)
        await _refuse_non_empty(nodes[0], manifest, overwrite)
        results = []
        for collection in manifest.collections:
            # Node 0 first: on a cluster, the first recovery creates the collection for every node.
            for snapshot in sorted(collection.snapshots, key=lambda s: s.node):
                await _recover(storage, backup_prefix(store, name), nodes[snapshot.node], collection.name, snapshot)
            points = await nodes[0].count(collection.name)
            log.info("restored collection %s: %d points", collection.name, points)
            results.append(Restored(collection.name, collection.points, points))
        return results
    finally:
        for node in nodes:
            await node.aclose()


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
    async with _local_copy(storage, prefix + snapshot.file) as path:
        size, digest = await asyncio.to_thread(_measure, path)
        if (size, digest) != (snapshot.size, snapshot.sha256):
            raise BackupError(
                f"{storage.where(prefix + snapshot.file)} does not match the manifest "
                f"({size} bytes, sha256 {digest}; expected {snapshot.size} bytes, sha256 {snapshot.sha256}): "
                f"not uploaded; the backup is damaged"
            )
        log.info("recovering collection %s on node %d from %d bytes", collection, snapshot.node, size)
        await node.recover(collection, path, checksum=snapshot.sha256)


@asynccontextmanager
async def _local_copy(storage: Storage, key: str) -> AsyncIterator[Path]:
    # Downloads (S3) and file access block: keep them off the event loop.
    context = storage.fetch(key)
    try:
        path = await asyncio.to_thread(context.__enter__)
    except FileNotFoundError as error:
        raise BackupError(f"{storage.where(key)} is missing: the backup is damaged") from error
    try:
        yield path
    finally:
        await asyncio.to_thread(context.__exit__, None, None, None)


def _measure(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
