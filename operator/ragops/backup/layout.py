"""Names and keys of a backup in its destination, the same on a PVC and in S3.

    <namespace>/<store>/<backup-name>/manifest.json
    <namespace>/<store>/<backup-name>/<collection>/shard-<s>.snapshot   (format 2)
    <namespace>/<store>/<backup-name>/<collection>/node-<i>.snapshot    (format 1, restore only)

Keys are relative, "/"-separated; each destination puts them under its own root (a directory, or a bucket
and prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

MANIFEST = "manifest.json"
BACKUP_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}$")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_STORE_PATTERN = re.compile(rf"^{_DNS_LABEL}/[a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?$")


@dataclass(frozen=True)
class StoreRef:
    """The VectorStore a backup belongs to."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> StoreRef:
        """`NAMESPACE/NAME`; both parts are Kubernetes names, so they are safe as path segments."""
        if not _STORE_PATTERN.match(text):
            raise ValueError(f"store must be NAMESPACE/NAME (Kubernetes names), got {text!r}")
        namespace, name = text.split("/")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def prefix(self) -> str:
        """Key prefix of every backup of this store (ends with "/")."""
        return f"{self.namespace}/{self.name}/"


def check_backup_name(name: str) -> str:
    if not BACKUP_NAME_PATTERN.match(name):
        raise ValueError(f"backup name must match {BACKUP_NAME_PATTERN.pattern}, got {name!r}")
    return name


def default_backup_name(now: datetime) -> str:
    return f"backup-{now:%Y%m%d-%H%M%S}"


def backup_prefix(store: StoreRef, backup: str) -> str:
    """Key prefix of one backup (ends with "/", so `backup-1` never matches `backup-10`)."""
    return f"{store.prefix}{backup}/"


def manifest_key(store: StoreRef, backup: str) -> str:
    return f"{backup_prefix(store, backup)}{MANIFEST}"


def shard_file(collection: str, shard: int) -> str:
    """Key of a shard snapshot relative to its backup, as recorded in the manifest."""
    return f"{collection_dir(collection)}/shard-{shard}.snapshot"


def collection_dir(collection: str) -> str:
    """A collection name as one path segment. Qdrant accepts names the operator's pattern does not
    (collections made by other clients); encoding keeps "/" or a leading "." from escaping the backup.
    The manifest records each file's key, so restore never decodes this."""
    segment = quote(collection, safe="")
    if segment.startswith("."):
        return "%2E" + segment[1:]
    # A directory named like the manifest could not sit next to it on a filesystem.
    return segment.replace(".", "%2E") if segment == MANIFEST else segment
