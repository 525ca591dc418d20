"""The API: documents in and out, queries."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import StreamingResponse

from ragops.gateway import sse
from ragops.gateway.ingest import Document
from ragops.gateway.schemas import (
    DOCUMENT_ID_PATTERN,
    ChunkOut,
    DeleteResponse,
    ErrorResponse,
    IngestedDocument,
    IngestRequest,
    IngestResponse,
    QueryRequest,
    QueryResponse,
)
from ragops.gateway.service import Gateway
from ragops.gateway.store import Hit

log = logging.getLogger("ragops.gateway.api")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Invalid request (not JSON, not UTF-8, or a bad field: error.fields names each).",
        401: "Missing or invalid API key.",
        413: "Body larger than gateway.maxRequestBytes.",
        429: "Rate limit exceeded (see Retry-After).",
        502: "A provider failed.",
        503: "Qdrant unavailable, or a provider's circuit is open (see Retry-After).",
        504: "A provider timed out.",
    }.items()
}

router = APIRouter(prefix="/v1", responses=ERRORS)


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


# OpenAPI links: what a client (or a stateful fuzzer) can do with an ingested document next.
INGESTED_LINKS = {
    "DeleteDocument": {
        "operationId": "delete_document",
        "parameters": {"document_id": "$response.body#/documents/0/id"},
        "description": "The first ingested document can be deleted by its id.",
    }
}


@router.post(
    "/documents",
    response_model=IngestResponse,
    summary="Add or replace documents",
    operation_id="ingest_documents",
    responses={200: {"description": "Stored.", "links": INGESTED_LINKS}},
)
async def ingest(body: IngestRequest, gateway: GatewayDep) -> IngestResponse:
    """Chunk, embed and store each document. An id that exists is replaced: its old chunks are gone."""
    done = await gateway.ingestor.ingest([Document(doc.id, doc.text, doc.metadata) for doc in body.documents])
    total = sum(doc.chunks for doc in done)
    log.info("ingested %d document(s), %d chunk(s)", len(done), total)
    return IngestResponse(documents=[IngestedDocument(id=doc.id, chunks=doc.chunks) for doc in done], chunks=total)


@router.delete(
    "/documents/{document_id:path}",
    response_model=DeleteResponse,
    summary="Delete a document",
    operation_id="delete_document",
    responses={404: {"model": ErrorResponse, "description": "No such document."}},
)
async def delete(
    document_id: Annotated[str, Path(min_length=1, max_length=512, pattern=DOCUMENT_ID_PATTERN)], gateway: GatewayDep
) -> DeleteResponse:
    deleted = await gateway.store.delete(document_id)
    if not deleted:
        raise HTTPException(404, "document not found")
    gateway.metrics.documents_deleted.inc()
    return DeleteResponse(id=document_id, deleted_chunks=deleted)


@router.post(
    "/query",
    response_model=QueryResponse,
    summary="Retrieve chunks and optionally answer",
    operation_id="query",
    responses={200: {"content": {sse.MEDIA_TYPE: {}}, "description": "JSON, or events when stream is true."}},
)
async def query(body: QueryRequest, gateway: GatewayDep) -> QueryResponse | StreamingResponse:
    """Embed the query, return the topK chunks scoring at least scoreThreshold, and, unless the pipeline's
    llm is `none` or `answer` is false, the LLM's answer citing them as [n]."""
    service = gateway.queries
    hits = await service.retrieve(body.query, body.top_k, body.score_threshold, body.filter)
    chunks = [_chunk(hit) for hit in hits]
    answering = body.answer and service.chat is not None
    if body.stream:
        gateway.metrics.queries.labels("stream").inc()
        events = service.stream(body.query, hits if answering else [], [c.model_dump(by_alias=True) for c in chunks])
        return StreamingResponse(events, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
    gateway.metrics.queries.labels("answer" if answering else "retrieve").inc()
    answer = await service.answer(body.query, hits) if answering else None
    return QueryResponse(
        chunks=chunks,
        answer=answer.text if answer else None,
        citations=answer.citations if answer else [],
        model=answer.model if answer else None,
    )


def _chunk(hit: Hit) -> ChunkOut:
    return ChunkOut(
        document_id=hit.document_id,
        chunk_index=hit.chunk_index,
        text=hit.text,
        score=hit.score,
        metadata=hit.metadata,
    )
