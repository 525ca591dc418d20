"""A failed backup exits non-zero with one error line, leaves no backup marked good, and leaves the
previous backups exactly as they were."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import ragops.backup.s3
from ragops.backup.catalog import list_backups
from ragops.backup.s3 import S3Storage
from ragops.backup.storage import PvcStorage
from tests.backup.conftest import (
    ACCESS_KEY,
    API_KEY,
    SECRET_KEY,
    STORE,
    backup,
    keys,
    plant,
    restore,
    s3_client,
    tree,
)
from tests.qdrant.double import Running


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def failing_puts(monkeypatch: pytest.MonkeyPatch, marker: str) -> None:
    """Make S3 refuse uploads of keys containing `marker`: the real client, with a botocore hook that
    answers like a failing server before the request leaves."""
    real = ragops.backup.s3.make_client

    def make_client(endpoint: str | None, region: str, credentials: tuple[str, str] | None = None) -> Any:
        client = real(endpoint, region, credentials)

        def refuse(params: dict[str, Any], **_: Any) -> None:
            if marker in params.get("Key", ""):
                error = {"Error": {"Code": "InternalError", "Message": "injected upload failure"}}
                raise ClientError(error, "PutObject")  # type: ignore[arg-type]

        for operation in ("PutObject", "CreateMultipartUpload", "UploadPart"):
            client.meta.events.register(f"before-parameter-build.s3.{operation}", refuse)
        return client

    monkeypatch.setattr(ragops.backup.s3, "make_client", make_client)


def test_failed_s3_upload_keeps_previous_backup_and_exits_non_zero(
    source: Running,
    s3_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    destination = ["--s3-bucket", bucket, "--s3-endpoint", s3_endpoint]
    assert backup(source, *destination, name="b1") == 0
    s3 = s3_client(s3_endpoint)
    before = {key: s3.get_object(Bucket=bucket, Key=key)["ETag"] for key in keys(s3_endpoint, bucket)}
    caplog.clear()
    failing_puts(monkeypatch, "/b2/manuals/shard-1")  # the last snapshot: three others are already up

    assert backup(source, *destination, name="b2") == 1

    assert errors(caplog) == [
        f"backup b2 of {STORE} failed: ClientError: An error occurred (InternalError) when calling the "
        "PutObject operation: injected upload failure"
    ]
    assert {key: s3.get_object(Bucket=bucket, Key=key)["ETag"] for key in keys(s3_endpoint, bucket)} == before
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    storage = S3Storage(s3, bucket)
    assert [(b.name, b.complete) for b in list_backups(storage, STORE)] == [("b1", True)]
    assert source.cluster.snapshot_files() == []  # node disk space is given back on failure too


def test_interrupted_download_keeps_previous_backups_and_prunes_nothing(
    source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pvc = PvcStorage(tmp_path)
    plant(pvc, "expired", datetime.now(UTC) - timedelta(days=60))
    assert backup(source, "--pvc-path", str(tmp_path), name="b1", retention="90d") == 0
    before = tree(tmp_path)
    source.cluster.fail_download.add(("manuals", 1))
    caplog.clear()

    assert backup(source, "--pvc-path", str(tmp_path), name="b2", retention="30d") == 1

    [line] = errors(caplog)
    assert line.startswith(
        f"backup b2 of {STORE} failed: {source.node_urls()[1]}: GET /collections/manuals/shards/1/snapshots/"
    )
    assert "RemoteProtocolError" in line
    # Nothing of b2 remains, b1 is untouched, and the expired backup was not pruned by a failed run.
    assert tree(tmp_path) == before
    assert source.cluster.snapshot_files() == []


def test_unreachable_node_fails_before_writing(
    clusters: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = clusters(nodes=1)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        running.node_urls = lambda: [url]  # type: ignore[method-assign]

        assert backup(running, "--pvc-path", str(tmp_path), name="b1") == 1

    [line] = errors(caplog)
    assert line.startswith(f"backup b1 of {STORE} failed: {url}: GET /: ConnectError")
    assert tree(tmp_path) == {}


def test_retried_job_does_not_take_a_complete_backup_again(
    source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0
    before = tree(tmp_path)
    source.cluster.calls.clear()

    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0

    assert tree(tmp_path) == before
    assert "backup b1 is already complete" in caplog.text
    assert source.cluster.calls == []


def test_leftover_of_a_failed_attempt_with_the_same_name_is_replaced(source: Running, tmp_path: Path) -> None:
    leftover = tmp_path / STORE / "b1" / "manuals" / "node-0.snapshot.partial"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a snapshot")

    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0

    assert not leftover.exists()
    [info] = list_backups(PvcStorage(tmp_path), STORE)
    assert info.complete and info.collections == ["faq", "manuals"]


def test_keys_never_reach_the_logs(
    source: Running,
    clusters: Callable[..., Running],
    s3_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    destination = ["--s3-bucket", bucket, "--s3-endpoint", s3_endpoint]
    assert backup(source, *destination, name="ok") == 0
    assert restore(clusters(nodes=2), "ok", *destination) == 0
    monkeypatch.setenv("QDRANT_API_KEY", "wrong-" + API_KEY)
    assert backup(source, *destination, name="denied") == 1
    assert "HTTP 401" in caplog.text  # the failure is logged...

    output = caplog.text + "".join(capsys.readouterr())
    for secret in (API_KEY, SECRET_KEY, ACCESS_KEY):  # ...without any key
        assert secret not in output
