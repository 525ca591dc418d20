"""`ragops backup` and `ragops restore`: what the operator's CronJob and Jobs run.

    ragops backup  --store NS/NAME --node-url URL [...] --retention 30d [--backup-name N] DESTINATION
    ragops restore --store NS/NAME --node-url URL [...] --backup-name N [--overwrite] [--settle-timeout S]
                   DESTINATION
    DESTINATION:   --pvc-path /backups | --s3-bucket B [--s3-prefix P] [--s3-endpoint URL] [--s3-region R]

Environment: QDRANT_API_KEY_FILE (a file holding Qdrant's key; the Jobs mount it from its Secret) or
QDRANT_API_KEY; RAGOPS_S3_CREDENTIALS_DIR (files accessKeyId and secretAccessKey, mounted from the Secret) or
boto3's usual chain; RAGOPS_BACKUP_NAME (backup).
Exit status 0 on success; otherwise 1 and one error line saying what failed (keys are never logged).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragops.backup.backup import backup
from ragops.backup.catalog import parse_retention
from ragops.backup.errors import BackupError
from ragops.backup.layout import StoreRef, check_backup_name, default_backup_name
from ragops.backup.restore import SETTLE_SECONDS, restore
from ragops.backup.storage import PvcStorage, Storage
from ragops.qdrant.snapshots import QdrantError
from ragops.secretfiles import SecretFileError, read_key

log = logging.getLogger("ragops.backup")

NAME_ENV = "RAGOPS_BACKUP_NAME"
API_KEY_ENV = "QDRANT_API_KEY"
API_KEY_FILE_ENV = "QDRANT_API_KEY_FILE"
S3_CREDENTIALS_DIR_ENV = "RAGOPS_S3_CREDENTIALS_DIR"


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    _add_store_arguments(parser)
    parser.add_argument(
        "--retention",
        default="30d",
        type=_typed(parse_retention),
        help="delete backups older than this after a successful backup: <n>h, <n>d or <n>w (default 30d)",
    )
    parser.add_argument(
        "--backup-name",
        type=_typed(check_backup_name),
        help=f"name of the backup (default: ${NAME_ENV}, else backup-YYYYMMDD-HHMMSS in UTC)",
    )
    _add_destination_arguments(parser)


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    _add_store_arguments(parser)
    # Required, not read from RAGOPS_BACKUP_NAME: in a restore Job that variable holds the Job's own name.
    parser.add_argument("--backup-name", required=True, type=_typed(check_backup_name), help="backup to restore")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace collections that already hold points (default: refuse)"
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=SETTLE_SECONDS,
        help=f"seconds to wait, per step, for every replica to be Active (default {SETTLE_SECONDS:.0f})",
    )
    _add_destination_arguments(parser)


def run_backup(args: argparse.Namespace) -> int:
    _quiet_libraries()
    now = datetime.now(UTC)
    name = args.backup_name or os.environ.get(NAME_ENV) or default_backup_name(now)
    try:
        check_backup_name(name)
        storage = open_storage(args)
        result = asyncio.run(
            backup(storage, args.store, name, args.node_urls, _api_key(), retention=args.retention, now=now)
        )
    except Exception as error:
        log.error("backup %s of %s failed: %s", name, args.store, describe(error))
        return 1
    manifest = result.manifest
    log.info(
        "backup %s of %s complete at %s: %d collection(s), %d node(s), %d bytes; pruned %s",
        name,
        args.store,
        storage.where(f"{args.store.prefix}{name}/"),
        len(manifest.collections),
        manifest.nodes,
        manifest.size,
        ", ".join(result.pruned) or "nothing",
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    _quiet_libraries()
    try:
        storage = open_storage(args)
        restored = asyncio.run(
            restore(
                storage,
                args.store,
                args.backup_name,
                args.node_urls,
                _api_key(),
                overwrite=args.overwrite,
                settle_seconds=args.settle_timeout,
            )
        )
    except Exception as error:
        log.error("restore of backup %s of %s failed: %s", args.backup_name, args.store, describe(error))
        return 1
    print(f"restored backup {args.backup_name} of {args.store} onto {len(args.node_urls)} node(s):")
    for item in restored:
        # A backup whose count was stable and a restore that differs already failed: this is the other case.
        note = "" if item.points_now == item.points_in_backup else "  <- differs: writes during the backup"
        print(f"  {item.collection}: {item.points_now} points ({item.points_in_backup} in the backup){note}")
    log.info("restore of backup %s of %s complete: %d collection(s)", args.backup_name, args.store, len(restored))
    return 0


def open_storage(args: argparse.Namespace) -> Storage:
    if args.pvc_path:
        root = Path(args.pvc_path)
        if not root.is_dir():
            raise BackupError(f"backup directory {root} does not exist (is the backup volume mounted?)")
        return PvcStorage(root)
    # boto3 loads only for S3 destinations.
    from ragops.backup.s3 import S3Storage, make_client

    credentials = _s3_credentials()
    client = make_client(args.s3_endpoint or None, args.s3_region, credentials)
    return S3Storage(client, args.s3_bucket, args.s3_prefix)


def describe(error: BaseException) -> str:
    """One line for the Job's log. Our own errors already say what to do; others get their type."""
    ours = isinstance(error, BackupError | QdrantError)
    text = str(error) if ours else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    # For a restore, --store names whose backups are read (possibly another, e.g. deleted, store of the
    # namespace); the node URLs are always those of the store being restored.
    parser.add_argument(
        "--store",
        required=True,
        type=_typed(StoreRef.parse),
        help="NAMESPACE/NAME of the VectorStore the backups belong to",
    )
    parser.add_argument(
        "--node-url",
        dest="node_urls",
        action="append",
        required=True,
        type=_typed(_node_url),
        help="URL of one Qdrant pod, repeated in ordinal order (shard placement is recorded by ordinal)",
    )


def _add_destination_arguments(parser: argparse.ArgumentParser) -> None:
    destination = parser.add_mutually_exclusive_group(required=True)
    destination.add_argument("--pvc-path", help="directory of the mounted backup volume")
    destination.add_argument("--s3-bucket", help="S3 bucket (must exist)")
    parser.add_argument("--s3-prefix", default="", help="key prefix inside the bucket")
    parser.add_argument("--s3-endpoint", default="", help="S3-compatible endpoint URL (default: AWS)")
    parser.add_argument("--s3-region", default="us-east-1", help="bucket region (default us-east-1)")


def _node_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"node URL must start with http:// or https://, got {text!r}")
    return text.rstrip("/")


def _typed(convert: Any) -> Any:
    """argparse `type=` that shows our message (argparse hides a ValueError's text behind a generic one)."""

    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _api_key() -> str | None:
    """Read once at start: a Job is short, and the next one reads a rotated key."""
    path = os.environ.get(API_KEY_FILE_ENV)
    if path:
        return _secret_file(Path(path))
    return os.environ.get(API_KEY_ENV) or None


def _s3_credentials() -> tuple[str, str] | None:
    directory = os.environ.get(S3_CREDENTIALS_DIR_ENV)
    if not directory:
        return None  # boto3's own chain (environment, profile, instance role)
    return _secret_file(Path(directory, "accessKeyId")), _secret_file(Path(directory, "secretAccessKey"))


def _secret_file(path: Path) -> str:
    try:
        return read_key(path)
    except SecretFileError as error:
        raise BackupError(str(error)) from error


def _quiet_libraries() -> None:
    # httpx logs every request at INFO: one line per snapshot chunk stream is noise in a Job's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
