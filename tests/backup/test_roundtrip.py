"""Backup then restore into a fresh store brings back every point of both collections (PVC and S3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup.conftest import STORE, backup, fill, keys, restore, s3_client
from tests.qdrant.double import Running


def test_pvc_backup_layout_and_manifest(source: Running, tmp_path: Path) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="nightly-1") == 0

    root = tmp_path / STORE / "nightly-1"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "faq/shard-0.snapshot",
        "faq/shard-1.snapshot",
        "manifest.json",
        "manuals/shard-0.snapshot",
        "manuals/shard-1.snapshot",
    ]
    manifest = json.loads((root / "manifest.json").read_text())
    assert (manifest["format"], manifest["name"], manifest["store"], manifest["nodes"], manifest["qdrantVersion"]) == (
        2,
        "nightly-1",
        STORE,
        2,
        "1.20.0",
    )
    assert [(c["name"], c["points"], c["pointsAfter"]) for c in manifest["collections"]] == [
        ("faq", 5, 5),
        ("manuals", 11, 11),
    ]
    for collection in manifest["collections"]:
        # What recreates the collection, and where each shard was (one shard per node in the double).
        assert collection["config"]["vectors"]["size"] in (3, 4) and collection["config"]["shard_number"] == 2
        assert [(e["shard"], e["nodes"], e["source"]) for e in collection["shards"]] == [(0, [0], 0), (1, [1], 1)]
        for entry in collection["shards"]:
            data = (root / entry["file"]).read_bytes()
            assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    # Snapshots are removed from the nodes once copied.
    assert source.cluster.snapshot_files() == []


def test_pvc_round_trip(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 0

    for collection in ("manuals", "faq"):
        assert target.cluster.points(collection) == source.cluster.points(collection)
    # Each node got back its own shard, not just the right total.
    for node in range(2):
        assert target.cluster.local[node].count("manuals").count == source.cluster.local[node].count("manuals").count
    summary = capsys.readouterr().out
    assert "restored backup b1 of search/docs onto 2 node(s)" in summary
    assert "manuals: 11 points (11 in the backup)" in summary and "faq: 5 points (5 in the backup)" in summary


def test_s3_round_trip(source: Running, clusters: Callable[..., Running], s3_endpoint: str, bucket: str) -> None:
    destination = ["--s3-bucket", bucket, "--s3-prefix", "team/a/", "--s3-endpoint", s3_endpoint]

    assert backup(source, *destination, name="b1") == 0

    assert keys(s3_endpoint, bucket) == [
        f"team/a/{STORE}/b1/{suffix}"
        for suffix in [
            "faq/shard-0.snapshot",
            "faq/shard-1.snapshot",
            "manifest.json",
            "manuals/shard-0.snapshot",
            "manuals/shard-1.snapshot",
        ]
    ]
    target = clusters(nodes=2)
    assert restore(target, "b1", *destination) == 0
    for collection in ("manuals", "faq"):
        assert target.cluster.points(collection) == source.cluster.points(collection)
    assert source.cluster.snapshot_files() == []


def test_restore_refuses_collections_holding_points(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)
    fill(target, "manuals", 1, size=4, start=500)
    before = target.cluster.points("manuals")

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 1

    [line] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "refusing to replace collections that hold points: manuals (1 points)" in line
    assert "--overwrite" in line
    # Refused before any change: the other collection was not restored either.
    assert target.cluster.points("manuals") == before and "faq" not in target.cluster.configs
    assert not any(call.path.endswith("/upload") for call in target.cluster.calls)

    assert restore(target, "b1", "--pvc-path", str(tmp_path), overwrite=True) == 0
    assert target.cluster.points("manuals") == source.cluster.points("manuals")


def test_restore_into_existing_empty_collection_needs_no_overwrite(
    source: Running, clusters: Callable[..., Running], tmp_path: Path
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2)
    target.cluster.create_collection("manuals", size=4)  # e.g. created by the operator from the spec

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 0
    assert target.cluster.points("manuals") == source.cluster.points("manuals")


def test_restore_needs_same_minor_version(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    target = clusters(nodes=2, version="1.21.0")

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 1

    assert "taken with Qdrant 1.20.0 and node 0 runs 1.21.0" in caplog.text and target.cluster.configs == {}


def test_restore_accepts_another_patch_version(
    source: Running, clusters: Callable[..., Running], tmp_path: Path
) -> None:
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    assert restore(clusters(nodes=2, version="1.20.3"), "b1", "--pvc-path", str(tmp_path)) == 0


def test_restore_never_applies_a_damaged_snapshot(
    source: Running, clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Snapshots stream from storage into Qdrant: the damage shows once its bytes have passed, and the upload
    is cut off before its end (and Qdrant's own checksum check would refuse it anyway)."""
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    damaged = tmp_path / STORE / "b1" / "faq" / "shard-1.snapshot"
    damaged.write_bytes(damaged.read_bytes().replace(b"faq-", b"FAQ-"))
    target = clusters(nodes=2)

    assert restore(target, "b1", "--pvc-path", str(tmp_path)) == 1

    assert f"{damaged} does not match the manifest" in caplog.text and "the backup is damaged" in caplog.text
    assert "FAQ-" not in repr(target.cluster.points("faq"))


def test_restore_of_a_backup_without_manifest_fails(
    source: Running, clusters: Callable[..., Running], s3_endpoint: str, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=f"{STORE}/half/manuals/node-0.snapshot", Body=b"{}")

    assert restore(clusters(nodes=2), "half", "--s3-bucket", bucket, "--s3-endpoint", s3_endpoint) == 1

    assert f"backup half of {STORE} not found or incomplete: no s3://{bucket}/{STORE}/half/manifest.json" in caplog.text
