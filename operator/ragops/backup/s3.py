"""Backups in S3-compatible object storage, through boto3.

Snapshots are streamed: at most one part (PART_SIZE) is held in memory. Files smaller than a part go up in
one PutObject; larger ones as a multipart upload, aborted on failure so no orphan parts are billed.
Credentials come from files the Job mounts from the credentials Secret (passed in by the CLI), else from
boto3's usual chain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ragops.backup.storage import Entry, Writer

PART_SIZE = 16 * 1024 * 1024  # S3's minimum part is 5 MiB; 16 MiB keeps a 100 GiB file under 10,000 parts
DOWNLOAD_CHUNK = 1024 * 1024
DELETE_BATCH = 1000  # DeleteObjects' limit


def make_client(endpoint: str | None, region: str, credentials: tuple[str, str] | None = None) -> Any:
    """An S3 client; a custom endpoint (MinIO, Ceph...) gets path-style addressing and checksums only
    where the API requires them, since many S3-compatible servers reject boto3's newer default ones.
    Integrity is covered by the sha256 the manifest records for every file."""
    if endpoint:
        config = Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 5},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    else:
        config = Config(retries={"mode": "standard", "max_attempts": 5})
    keys = {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]} if credentials else {}
    return boto3.client("s3", endpoint_url=endpoint or None, region_name=region, config=config, **keys)


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def writer(self, key: str) -> Writer:
        return _S3Writer(self, self._key(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)  # S3 PUTs are atomic

    def get_bytes(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _missing(error):
                return None
            raise
        with contextlib.closing(response["Body"]) as body:
            data: bytes = body.read()
        return data

    @contextlib.contextmanager
    def chunks(self, key: str) -> Iterator[Iterator[bytes]]:
        """Stream the object from S3 as it is consumed: nothing is staged in the Job's /tmp."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(self.where(key)) from error
            raise
        with contextlib.closing(response["Body"]) as body:
            yield body.iter_chunks(DOWNLOAD_CHUNK)

    def list(self, prefix: str) -> list[Entry]:
        entries = []
        strip = len(self._key(""))
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        for page in pages:
            for item in page.get("Contents", []):
                entries.append(Entry(item["Key"][strip:], int(item["Size"]), item["LastModified"]))
        return sorted(entries, key=lambda e: e.key)

    def delete_tree(self, prefix: str) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"delete_tree needs a directory prefix ending in '/', got {prefix!r}")
        keys = [self._key(entry.key) for entry in self.list(prefix)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                raise OSError(f"cannot delete s3://{self.bucket}/{first.get('Key')}: {first.get('Message')}")
        self._abort_uploads(self._key(prefix))

    def _abort_uploads(self, prefix: str) -> None:
        # Multipart uploads a killed Job left open are invisible to listings but still stored and billed.
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for upload in page.get("Uploads", []):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")


class _S3Writer:
    def __init__(self, storage: S3Storage, key: str) -> None:
        self._s3 = storage
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        while len(self._buffer) >= self._s3.part_size:
            part = bytes(self._buffer[: self._s3.part_size])
            del self._buffer[: self._s3.part_size]
            self._upload(part)

    def commit(self) -> None:
        client, bucket = self._s3.client, self._s3.bucket
        if self._upload_id is None:
            client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._upload(bytes(self._buffer))
            self._buffer.clear()
        client.complete_multipart_upload(
            Bucket=bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )
        self._upload_id = None

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._s3.client.abort_multipart_upload(Bucket=self._s3.bucket, Key=self._key, UploadId=upload_id)

    def _upload(self, part: bytes) -> None:
        client, bucket = self._s3.client, self._s3.bucket
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        response = client.upload_part(
            Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
