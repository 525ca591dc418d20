"""Request and response bodies of the gateway API (camelCase on the wire, like the CRDs)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

MAX_DOCUMENTS = 1000
# No control characters: an id must survive a URL path (`DELETE /v1/documents/{id}`) unchanged, and a
# newline, say, does not (routers and proxies treat it as the end of the path or refuse it).
DOCUMENT_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
DocumentId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=DOCUMENT_ID_PATTERN,
        description="Caller-chosen document id: no control characters, no `.` or `..` path segment.",
    ),
]
FilterValue = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool
# Qdrant reads a filter key as a path (`a.b`, `a[]`): only plain keys are safe to pass on.
FilterKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,256}$")]
# Text must hold something besides whitespace (stated in the schema too, for clients and fuzzers).
NOT_BLANK = r"\S"


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace text")
    return value


def check_document_id(value: str) -> str:
    """HTTP clients resolve `.` and `..` segments before sending (RFC 3986), so such an id could be stored
    but never addressed for deletion."""
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError("must not contain a '.' or '..' path segment")
    return value


class DocumentIn(ApiModel):
    id: DocumentId
    text: str = Field(
        min_length=1, pattern=NOT_BLANK, description="The document's text; split by the pipeline's chunking strategy."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Stored with every chunk; top-level keys can filter queries."
    )

    _text_not_blank = field_validator("text")(_not_blank)
    _id_addressable = field_validator("id")(check_document_id)


class IngestRequest(ApiModel):
    documents: list[DocumentIn] = Field(
        min_length=1, max_length=MAX_DOCUMENTS, description="Documents to add; an existing id is replaced."
    )

    @field_validator("documents")
    @classmethod
    def _unique_ids(cls, documents: list[DocumentIn]) -> list[DocumentIn]:
        seen: set[str] = set()
        for doc in documents:
            if doc.id in seen:
                # Two versions of one document in one request: which would win is arbitrary, so refuse.
                raise ValueError(f"document id {doc.id!r} appears more than once")
            seen.add(doc.id)
        return documents


class IngestedDocument(ApiModel):
    id: str
    chunks: int = Field(description="Chunks stored for this document (its previous chunks are gone).")


class IngestResponse(ApiModel):
    documents: list[IngestedDocument]
    chunks: int = Field(description="Chunks stored in total.")


class DeleteResponse(ApiModel):
    id: str
    deleted_chunks: int


class QueryRequest(ApiModel):
    query: str = Field(min_length=1, max_length=100_000, pattern=NOT_BLANK, description="The question or search text.")
    top_k: int | None = Field(
        default=None, ge=1, le=100, description="Chunks to retrieve. Default: spec.retrieval.topK."
    )
    score_threshold: float | None = Field(
        default=None, allow_inf_nan=False, description="Minimum similarity. Default: spec.retrieval.scoreThreshold."
    )
    filter: dict[FilterKey, FilterValue] = Field(
        default_factory=dict,
        max_length=64,
        description="Only chunks whose metadata has these exact values (top-level keys of letters, digits, _ and -).",
    )
    answer: bool = Field(
        default=True, description="Ask the LLM for a cited answer (ignored when llm.provider is none)."
    )
    stream: bool = Field(default=False, description="Answer as server-sent events: chunks, token..., done.")

    _query_not_blank = field_validator("query")(_not_blank)


class ChunkOut(ApiModel):
    document_id: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any]


class QueryResponse(ApiModel):
    chunks: list[ChunkOut] = Field(description="Retrieved chunks, best first; citation [n] is chunks[n-1].")
    answer: str | None = Field(description="The LLM's answer, or null (llm none, answer false, or no chunks).")
    citations: list[int] = Field(description="Chunk numbers (1-based) the answer cites.")
    model: str | None = Field(description="The model that answered.")


class FieldError(BaseModel):
    field: str = Field(description="Path of the bad field, e.g. `documents.0.text`.")
    message: str


class ErrorDetail(BaseModel):
    """OpenAI's error object, so OpenAI clients show the message and raise their usual exceptions."""

    model_config = ConfigDict(populate_by_name=True)

    message: str
    type: str = Field(description="invalid_request_error, authentication_error, rate_limit_error, server_error...")
    param: str | None = Field(description="The request field at fault, when one is.")
    code: str | None = Field(description="Machine-readable reason, e.g. invalid_api_key, model_not_found.")
    fields: list[FieldError] | None = Field(default=None, description="Invalid requests: every bad field.")
    provider_message: str | None = Field(
        default=None, alias="providerMessage", description="A provider's own refusal (its 4xx message)."
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail
