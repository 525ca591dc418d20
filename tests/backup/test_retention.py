"""Retention: after a successful backup, exactly the backups older than the retention are pruned."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragops.backup.catalog import list_backups, parse_retention
from ragops.backup.s3 import S3Storage
from ragops.backup.storage import PvcStorage
from tests.backup.conftest import STORE, backup, keys, plant, s3_client
from tests.qdrant.double import Running


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2))],
)
def test_retention_units(text: str, expected: timedelta) -> None:
    assert parse_retention(text) == expected


@pytest.mark.parametrize("text", ["0d", "30", "d", "1y", "-1d", "1.5d", " 30d"])
def test_invalid_retention_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="retention must be"):
        parse_retention(text)


def test_pvc_prunes_exactly_the_expired_backups(
    source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    pvc = PvcStorage(tmp_path)
    plant(pvc, "expired", now - timedelta(days=30, minutes=5))
    plant(pvc, "kept", now - timedelta(days=29, hours=23, minutes=55))
    plant(pvc, "old-leftover", None)
    plant(pvc, "fresh-leftover", None)  # e.g. a backup another Job is writing right now
    plant(pvc, "other-store-expired", now - timedelta(days=90), store="search/other")
    month_ago = (now - timedelta(days=31)).timestamp()
    for path in (tmp_path / STORE / "old-leftover").rglob("*"):
        os.utime(path, (month_ago, month_ago))
    caplog.set_level(logging.INFO)

    assert backup(source, "--pvc-path", str(tmp_path), name="new", retention="30d") == 0

    assert sorted(p.name for p in (tmp_path / STORE).iterdir()) == ["fresh-leftover", "kept", "new"]
    assert (tmp_path / "search" / "other" / "other-store-expired" / "manifest.json").is_file()
    assert "pruned old-leftover, expired" in caplog.text  # oldest first


def test_s3_prunes_expired_backups_and_their_open_uploads(source: Running, s3_endpoint: str, bucket: str) -> None:
    s3 = s3_client(s3_endpoint)
    storage = S3Storage(s3, bucket, "p")
    now = datetime.now(UTC)
    plant(storage, "expired", now - timedelta(hours=13))
    plant(storage, "kept", now - timedelta(hours=11))
    # A multipart upload a killed Job left open inside the expired backup.
    s3.create_multipart_upload(Bucket=bucket, Key=f"p/{STORE}/expired/faq/node-0.snapshot")

    assert backup(source, "--s3-bucket", bucket, "--s3-prefix", "p", "--s3-endpoint", s3_endpoint,
                  name="new", retention="12h") == 0  # fmt: skip

    assert {key.split("/")[3] for key in keys(s3_endpoint, bucket)} == {"kept", "new"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_list_backups_tells_complete_from_leftovers(tmp_path: Path) -> None:
    pvc = PvcStorage(tmp_path)
    then = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    plant(pvc, "good", then)
    plant(pvc, "leftover", None)
    plant(pvc, "corrupt", then)
    (tmp_path / STORE / "corrupt" / "manifest.json").write_text('{"name": "corrupt"')
    (tmp_path / STORE / "stray.txt").write_text("not a backup")

    infos = {info.name: info for info in list_backups(pvc, STORE)}

    assert sorted(infos) == ["corrupt", "good", "leftover"]
    assert (infos["good"].complete, infos["good"].time, infos["good"].collections) == (True, then, ["manuals"])
    assert not infos["leftover"].complete and not infos["corrupt"].complete
    assert list_backups(pvc, "search/nothing-here") == []
