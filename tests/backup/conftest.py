"""Fixtures: simulated Qdrant clusters (a test double, see tests/qdrant/double.py), a real S3-protocol server
(moto's, on 127.0.0.1), and a way to run the Job commands exactly as the operator invokes them."""

from __future__ import annotations

import argparse
import hashlib
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from qdrant_client import models

from ragops.backup.cli import add_backup_arguments, add_restore_arguments, run_backup, run_restore
from ragops.backup.layout import StoreRef, backup_prefix, manifest_key
from ragops.backup.manifest import CollectionBackup, Manifest, SnapshotFile
from ragops.backup.storage import Storage
from tests.qdrant.double import FakeQdrantCluster, Running, serve

API_KEY = "qdrant-key-5e1d"
ACCESS_KEY = "AKIATESTACCESS0001"
SECRET_KEY = "test-secret-9b7c-do-not-log"
STORE = "search/docs"
_buckets = itertools.count()


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Job's pod gets from its Secrets; no AWS config files of this machine are read."""
    monkeypatch.setenv("QDRANT_API_KEY", API_KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("RAGOPS_BACKUP_NAME", raising=False)


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start cluster doubles: `clusters(nodes=2)`; all are stopped at the end of the test."""
    stops: list[Iterator[Running]] = []

    def start(nodes: int = 2, **options: Any) -> Running:
        generator = serve(
            FakeQdrantCluster(nodes=nodes, directory=tmp_path / f"qdrant-{len(stops)}", api_key=API_KEY, **options)
        )
        stops.append(generator)
        return next(generator)

    yield start
    for generator in stops:
        next(generator, None)


@pytest.fixture
def source(clusters: Callable[..., Running]) -> Running:
    """A two-node cluster holding two collections spread over both nodes."""
    running = clusters(nodes=2)
    fill(running, "manuals", 11, size=4)
    fill(running, "faq", 5, size=3)
    return running


def fill(running: Running, collection: str, count: int, size: int = 4, start: int = 0) -> None:
    running.cluster.create_collection(collection, size=size)
    points = [
        models.PointStruct(
            id=i, vector=[float(i + d) / 10 for d in range(size)], payload={"title": f"{collection}-{i}"}
        )
        for i in range(start, start + count)
    ]
    running.cluster.upsert(collection, points)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the socket is bound
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"backups-{next(_buckets)}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    response = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in response.get("Contents", []))


def backup(running: Running, *destination: str, name: str | None = None, retention: str = "30d") -> int:
    """`ragops backup ...` as the CronJob runs it."""
    argv = ["--store", STORE, *_nodes(running), "--retention", retention, *destination]
    if name:
        argv += ["--backup-name", name]
    parser = argparse.ArgumentParser(prog="ragops backup")
    add_backup_arguments(parser)
    return run_backup(parser.parse_args(argv))


def restore(
    running: Running, name: str, *destination: str, overwrite: bool = False, settle_timeout: float | None = None
) -> int:
    """`ragops restore ...` as the restore Job runs it."""
    argv = ["--store", STORE, *_nodes(running), "--backup-name", name, *destination]
    if overwrite:
        argv.append("--overwrite")
    if settle_timeout is not None:
        argv += ["--settle-timeout", str(settle_timeout)]
    parser = argparse.ArgumentParser(prog="ragops restore")
    add_restore_arguments(parser)
    return run_restore(parser.parse_args(argv))


def _nodes(running: Running) -> list[str]:
    return [arg for url in running.node_urls() for arg in ("--node-url", url)]


def plant(storage: Storage, name: str, created_at: datetime | None, store: str = STORE) -> None:
    """A backup made earlier: with a manifest dated `created_at`, or without one (a leftover) if None."""
    ref = StoreRef.parse(store)
    storage.put_bytes(f"{backup_prefix(ref, name)}manuals/node-0.snapshot", b"old snapshot")
    if created_at is not None:
        snapshot = SnapshotFile(node=0, file="manuals/node-0.snapshot", size=12, sha256="0" * 64)
        manifest = Manifest(
            name=name,
            store=store,
            created_at=created_at,
            completed_at=created_at,
            qdrant_version="1.20.0",
            nodes=1,
            collections=[CollectionBackup(name="manuals", points=1, snapshots=[snapshot])],
        )
        storage.put_bytes(manifest_key(ref, name), manifest.to_json())


def tree(root: Path) -> dict[str, str]:
    """Every file under root with its sha256, to prove nothing changed."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
