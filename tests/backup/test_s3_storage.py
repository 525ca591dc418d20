"""S3Storage against moto's S3 server: large files go up as multipart uploads, in bounded memory."""

from __future__ import annotations

import hashlib
import os

import pytest

from ragops.backup.s3 import S3Storage
from tests.backup.conftest import s3_client

MIB = 1024 * 1024


def test_large_file_is_streamed_as_multipart_upload(s3_endpoint: str, bucket: str) -> None:
    s3 = s3_client(s3_endpoint)
    storage = S3Storage(s3, bucket, "pre", part_size=5 * MIB)  # S3's smallest allowed part
    data = os.urandom(11 * MIB + 123)
    writer = storage.writer("a/node-0.snapshot")
    for start in range(0, len(data), MIB):
        writer.write(data[start : start + MIB])
        assert len(writer._buffer) < 5 * MIB  # type: ignore[attr-defined]  # never more than a part in memory
    writer.commit()

    head = s3.head_object(Bucket=bucket, Key="pre/a/node-0.snapshot")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # S3 marks multipart objects with their part count
    with storage.chunks("a/node-0.snapshot") as chunks:
        assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()


def test_small_file_is_one_put(s3_endpoint: str, bucket: str) -> None:
    storage = S3Storage(s3_client(s3_endpoint), bucket)
    writer = storage.writer("x/node-0.snapshot")
    writer.write(b"small")
    writer.commit()
    assert storage.get_bytes("x/node-0.snapshot") == b"small"
    assert "-" not in s3_client(s3_endpoint).head_object(Bucket=bucket, Key="x/node-0.snapshot")["ETag"]


def test_aborted_upload_leaves_nothing(s3_endpoint: str, bucket: str) -> None:
    s3 = s3_client(s3_endpoint)
    storage = S3Storage(s3, bucket, part_size=5 * MIB)
    writer = storage.writer("a/node-0.snapshot")
    writer.write(os.urandom(6 * MIB))  # one part already uploaded
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads")

    writer.abort()

    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert storage.list("") == [] and storage.get_bytes("a/node-0.snapshot") is None


def test_reading_a_missing_object_is_file_not_found(s3_endpoint: str, bucket: str) -> None:
    storage = S3Storage(s3_client(s3_endpoint), bucket)
    with pytest.raises(FileNotFoundError), storage.chunks("missing/node-0.snapshot"):
        pass
