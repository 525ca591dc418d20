"""The pipeline's collection in Qdrant: chunks as points, one document = the points sharing `document_id`.

Point ids are uuid5(CHUNK_NAMESPACE, f"{document_id}#{chunk_index}"): deterministic, so re-ingesting a
document overwrites its chunks in place, and only the chunks beyond the new count need deleting (no moment
where the document has no chunks at all). The index is all digits, so splitting at the last `#` is unambiguous.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

log = logging.getLogger("ragops.gateway.store")

CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ragops.dev/gateway/chunk")
DOCUMENT_ID = "document_id"
CHUNK_INDEX = "chunk_index"
TEXT = "text"
METADATA = "metadata"
# Points per upsert request: keeps each request well under Qdrant's default 32 MiB body limit.
UPSERT_BATCH = 256

MetadataValue = str | int | float | bool


class StoreError(Exception):
    """Qdrant failed or is unreachable; the message is safe to show (no document text)."""


def point_id(document_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}#{chunk_index}"))


@dataclass(frozen=True)
class DocumentChunks:
    """A document ready to store: its chunks and their vectors, in order."""

    document_id: str
    chunks: Sequence[str]
    vectors: Sequence[Sequence[float]]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    document_id: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any]


@dataclass
class ChunkStore:
    client: AsyncQdrantClient
    collection: str
    dimensions: int
    local: bool = False  # qdrant-client's in-process mode: no payload indexes there

    async def ensure_collection(self) -> None:
        """Create the collection (Cosine, `dimensions`) when missing; fail if it exists with another size."""
        with _qdrant("checking the collection"):
            exists = await self.client.collection_exists(self.collection)
        if not exists:
            await self._create()
            return
        with _qdrant("reading the collection"):
            info = await self.client.get_collection(self.collection)
        size = _vector_size(info)
        if size is not None and size != self.dimensions:
            raise StoreError(
                f"collection {self.collection} holds vectors of size {size}, "
                f"but spec.embedding.dimensions is {self.dimensions}"
            )
        if not self.local and DOCUMENT_ID not in (info.payload_schema or {}):
            await self._index_document_id()

    async def replace(self, documents: Sequence[DocumentChunks]) -> None:
        """Store each document's chunks, replacing whatever the document held before."""
        points = [
            models.PointStruct(
                id=point_id(doc.document_id, index),
                vector=list(vector),
                payload={DOCUMENT_ID: doc.document_id, CHUNK_INDEX: index, TEXT: text, METADATA: dict(doc.metadata)},
            )
            for doc in documents
            for index, (text, vector) in enumerate(zip(doc.chunks, doc.vectors, strict=True))
        ]
        with _qdrant("storing chunks"):
            for start in range(0, len(points), UPSERT_BATCH):
                await self.client.upsert(self.collection, points[start : start + UPSERT_BATCH], wait=True)
            # Then drop the chunks a previous, longer version left beyond the new count.
            stale = models.Filter(
                should=[
                    models.Filter(
                        must=[_document(doc.document_id), _from_index(len(doc.chunks))],
                    )
                    for doc in documents
                ]
            )
            await self.client.delete(self.collection, models.FilterSelector(filter=stale), wait=True)

    async def delete(self, document_id: str) -> int:
        """Remove a document's chunks; returns how many there were (0: unknown document)."""
        selector = models.Filter(must=[_document(document_id)])
        with _qdrant("deleting a document"):
            count = (await self.client.count(self.collection, count_filter=selector, exact=True)).count
            if count:
                await self.client.delete(self.collection, models.FilterSelector(filter=selector), wait=True)
        return count

    async def search(
        self, vector: Sequence[float], limit: int, threshold: float, metadata: Mapping[str, MetadataValue]
    ) -> list[Hit]:
        query_filter = models.Filter(must=[_equals(f"{METADATA}.{key}", value) for key, value in metadata.items()])
        with _qdrant("searching"):
            response = await self.client.query_points(
                self.collection,
                query=list(vector),
                limit=limit,
                score_threshold=threshold,
                query_filter=query_filter if metadata else None,
                with_payload=True,
            )
        return [_hit(point) for point in response.points]

    async def _create(self) -> None:
        with _qdrant("creating the collection"):
            try:
                await self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE),
                )
            except UnexpectedResponse as error:
                # Another gateway pod (or the operator) created it in between: that is the goal reached.
                if error.status_code != 409:
                    raise
        log.info("created collection %s (Cosine, size %d)", self.collection, self.dimensions)
        if not self.local:
            await self._index_document_id()

    async def _index_document_id(self) -> None:
        """Replacing and deleting filter on document_id: an index keeps them fast on big collections.

        Also done for collections the operator created (it does not know about gateway payloads). Not fatal:
        without the index everything works, only slower.
        """
        try:
            with _qdrant("indexing document_id"):
                await self.client.create_payload_index(
                    self.collection, DOCUMENT_ID, field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                )
        except StoreError as error:
            log.warning("no payload index on %s.%s: %s", self.collection, DOCUMENT_ID, error)


def _document(document_id: str) -> models.FieldCondition:
    return models.FieldCondition(key=DOCUMENT_ID, match=models.MatchValue(value=document_id))


def _equals(key: str, value: MetadataValue) -> models.FieldCondition:
    """Exact match. Qdrant matches only keywords, integers and booleans by value: a float is the range
    [value, value] (which also finds the integer 2 for 2.0, as JSON makes no difference between them)."""
    if isinstance(value, float):
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _from_index(index: int) -> models.FieldCondition:
    return models.FieldCondition(key=CHUNK_INDEX, range=models.Range(gte=index))


def _hit(point: models.ScoredPoint) -> Hit:
    payload = point.payload or {}
    metadata = payload.get(METADATA)
    return Hit(
        document_id=str(payload.get(DOCUMENT_ID, "")),
        chunk_index=int(payload.get(CHUNK_INDEX, 0)),
        text=str(payload.get(TEXT, "")),
        score=float(point.score),
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def _vector_size(info: models.CollectionInfo) -> int | None:
    vectors = info.config.params.vectors
    if isinstance(vectors, models.VectorParams):
        return vectors.size
    return None  # named vectors: not a layout this gateway writes; leave it to the upsert to complain


@contextmanager
def _qdrant(action: str) -> Iterator[None]:
    """Qdrant's many failure types as one StoreError; only the type and status reach logs and clients
    (Qdrant's error bodies can quote payloads)."""
    try:
        yield
    except UnexpectedResponse as error:
        log.warning("qdrant failed %s: HTTP %s", action, error.status_code)
        raise StoreError(f"vector store failed {action} (HTTP {error.status_code})") from None
    except (ResponseHandlingException, httpx.HTTPError, OSError, TimeoutError) as error:
        log.warning("qdrant unreachable while %s: %s", action, type(error).__name__)
        raise StoreError(f"vector store unreachable while {action}") from None
    except ValueError as error:
        # Local mode reports a missing collection as ValueError; its message names only the collection.
        log.warning("qdrant failed %s: %s", action, error)
        raise StoreError(f"vector store failed {action}: {error}") from None
