"""OpenAI-compatible endpoints: the pipeline is a model that any OpenAI client can chat with.

`GET /v1/models` lists it (id = the RagPipeline's name) and `POST /v1/chat/completions` answers, whole or as
server-sent events in OpenAI's chunk format, ending with `data: [DONE]`. Conversations are held by the
client, the OpenAI way: there is no server-side session (see docs/gateway.md, Conversations).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from ragops.gateway import sse
from ragops.gateway.chat import Conversation, Reply, Turn, split_conversation
from ragops.gateway.errors import ApiError, provider_code
from ragops.gateway.ingest import OFFLOAD_CHARS
from ragops.gateway.openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    Citation,
    ModelCard,
    ModelList,
    Usage,
)
from ragops.gateway.providers.base import ChatOptions
from ragops.gateway.providers.errors import ProviderError
from ragops.gateway.responses import error_body
from ragops.gateway.routes import ERRORS, GatewayDep
from ragops.gateway.schemas import ErrorResponse
from ragops.gateway.service import Gateway

log = logging.getLogger("ragops.gateway.openai")

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["openai"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such model (see GET /v1/models)."}
}


def _card(gateway: Gateway) -> ModelCard:
    return ModelCard(id=gateway.model_id, created=gateway.started, owned_by="ragops")


@router.get("/models", response_model=ModelList, summary="The pipeline as a model (OpenAI)")
async def list_models(gateway: GatewayDep) -> ModelList:
    return ModelList(data=[_card(gateway)])


@router.get("/models/{model}", response_model=ModelCard, summary="One model (OpenAI)", responses=NOT_FOUND)
async def get_model(model: Annotated[str, Path(min_length=1, max_length=256)], gateway: GatewayDep) -> ModelCard:
    _check_model(model, gateway)
    return _card(gateway)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="Chat with the pipeline (OpenAI)",
    responses={
        **NOT_FOUND,
        200: {
            "content": {sse.MEDIA_TYPE: {}},
            "description": "A chat.completion, or chat.completion.chunk events then `data: [DONE]` when stream.",
        },
    },
)
async def chat_completions(
    body: ChatCompletionRequest, gateway: GatewayDep
) -> ChatCompletion | StreamingResponse:
    """The last user message retrieves the context, earlier turns are kept within a token budget, and the
    answer cites its sources as [n], in the text, under "Sources:" and in `citations`."""
    _check_model(body.model, gateway)
    turns = [Turn(message.role, message.text()) for message in body.messages]
    if sum(len(turn.content) for turn in turns) < OFFLOAD_CHARS:
        conversation = split_conversation(turns, gateway.chats.history_tokens)
    else:
        # Counting the tokens of a long history is CPU work: off the event loop, probes keep answering.
        conversation = await asyncio.to_thread(split_conversation, turns, gateway.chats.history_tokens)
    if conversation.dropped_turns:
        log.info("chat history: %d earlier turn(s) over the token budget left out", conversation.dropped_turns)
    options = ChatOptions(body.temperature, body.max_completion_tokens or body.max_tokens)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        gateway.metrics.queries.labels("chat_stream").inc()
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = await _stream(gateway, conversation, options, completion_id, created, include_usage)
        return StreamingResponse(events, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
    gateway.metrics.queries.labels("chat").inc()
    text, reply = await gateway.chats.complete(conversation, options)
    _count_tokens(gateway, reply)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=gateway.model_id,
        choices=[Choice(index=0, message=AssistantMessage(content=text), finish_reason="stop")],
        usage=_usage(reply),
        citations=_citations(reply),
    )


def _check_model(model: str, gateway: Gateway) -> None:
    if model != gateway.model_id:
        raise ApiError(
            404,
            f"the model {model!r} does not exist: this gateway serves {gateway.model_id!r}",
            code="model_not_found",
            param="model",
        )


async def _stream(
    gateway: Gateway, conversation: Conversation, options: ChatOptions, completion_id: str, created: int, usage: bool
) -> AsyncIterator[bytes]:
    pieces, reply = await gateway.chats.open_stream(conversation, options)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": gateway.model_id,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        if usage:
            data.setdefault("usage", None)  # OpenAI: null on every chunk but the usage one
        return sse.data(data)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for piece in pieces:
                yield chunk({"content": piece})
        except ProviderError as error:
            # The status line is gone: OpenAI's in-stream error event (its SDK raises APIError on it).
            log.warning("chat stream failed: %s", type(error).__name__)
            yield sse.data(error_body(error.status_code, str(error), code=provider_code(error)))
            return
        finally:
            await pieces.aclose()
        _count_tokens(gateway, reply)
        yield chunk({}, "stop", citations=[c.model_dump() for c in _citations(reply)])
        if usage:
            final = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": gateway.model_id,
                "choices": [],
                "usage": _usage(reply).model_dump(),
            }
            yield sse.data(final)
        yield sse.DONE

    return events()


def _usage(reply: Reply) -> Usage:
    return Usage(
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        total_tokens=reply.prompt_tokens + reply.completion_tokens,
    )


def _citations(reply: Reply) -> list[Citation]:
    return [
        Citation(
            number=number,
            document_id=reply.hits[number - 1].document_id,
            chunk_index=reply.hits[number - 1].chunk_index,
            text=reply.hits[number - 1].text,
            score=reply.hits[number - 1].score,
            metadata=reply.hits[number - 1].metadata,
        )
        for number in reply.cited
    ]


def _count_tokens(gateway: Gateway, reply: Reply) -> None:
    gateway.metrics.chat_tokens.labels("prompt").inc(reply.prompt_tokens)
    gateway.metrics.chat_tokens.labels("completion").inc(reply.completion_tokens)
