"""The backups of a store as found in a destination, and retention over them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from ragops.backup.layout import MANIFEST, StoreRef, manifest_key
from ragops.backup.manifest import Manifest
from ragops.backup.storage import Entry, Storage

_RETENTION = re.compile(r"^([1-9][0-9]*)([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class BackupInfo:
    """One backup directory. `complete` only when it has a readable manifest; then `time` is the manifest's
    start time, otherwise the newest write seen in the directory (how old a leftover really is)."""

    name: str
    store: str
    complete: bool
    time: datetime
    size: int
    manifest: Manifest | None = field(default=None, compare=False)

    @property
    def collections(self) -> list[str]:
        return [c.name for c in self.manifest.collections] if self.manifest else []


def parse_retention(text: str) -> timedelta:
    """`30d`, `12h`, `2w` (the VectorStore's backup.retention)."""
    match = _RETENTION.match(text)
    if not match:
        raise ValueError(f"retention must be a positive number followed by h, d or w (e.g. 30d), got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def list_backups(destination: Storage, store: StoreRef | str) -> list[BackupInfo]:
    """Every backup of `store` in `destination`, complete or not, oldest first."""
    ref = store if isinstance(store, StoreRef) else StoreRef.parse(store)
    groups: dict[str, list[Entry]] = {}
    for entry in destination.list(ref.prefix):
        name, _, rest = entry.key[len(ref.prefix) :].partition("/")
        if rest:  # a stray file directly under the store is not a backup
            groups.setdefault(name, []).append(entry)
    infos = [_info(destination, ref, name, entries) for name, entries in groups.items()]
    return sorted(infos, key=lambda info: (info.time, info.name))


def expired(backups: list[BackupInfo], now: datetime, retention: timedelta, *, keep: str) -> list[BackupInfo]:
    """Backups (complete or leftovers) older than the retention; never `keep`, the one just taken."""
    cutoff = now - retention
    return [b for b in backups if b.name != keep and b.time < cutoff]


def _info(destination: Storage, store: StoreRef, name: str, entries: list[Entry]) -> BackupInfo:
    size = sum(e.size for e in entries)
    newest = max(e.modified for e in entries)
    manifest = None
    if any(e.key.endswith(f"/{name}/{MANIFEST}") for e in entries):
        data = destination.get_bytes(manifest_key(store, name))
        try:
            manifest = Manifest.from_json(data) if data is not None else None
        except ValidationError:
            manifest = None  # unreadable: treated like a leftover, never as a good backup
    if manifest is None:
        return BackupInfo(name, str(store), False, newest, size)
    created = manifest.created_at
    if created.tzinfo is None:  # written by hand without a zone: backups are stamped in UTC
        created = created.replace(tzinfo=UTC)
    return BackupInfo(name, str(store), True, created, size, manifest)
