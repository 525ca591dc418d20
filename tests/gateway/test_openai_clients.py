"""Real OpenAI clients against a running gateway: the official `openai` package (sync, async, streaming) and
LangChain's ChatOpenAI get cited answers and raise their usual exceptions. The gateway listens on loopback
(uvicorn in a thread); its LLM is the fake provider, answering "Cats purr when they are content [1]."."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from tests.gateway.conftest import OPENAI, Served, ServeGateway

KEY = "gw-key-5be1"
CATS = "Cats purr when they are content. A cat sleeps most of the day in a warm sunny spot."
ROCKETS = "Rockets burn liquid fuel with oxygen. A rocket engine produces thrust through its nozzle."
ANSWER = "Cats purr when they are content [1].\n\nSources:\n[1] cats (chunk 0)"
QUESTION = "why do cats purr"


@pytest.fixture
def gateway(serve_gateway: ServeGateway) -> Iterator[Served]:
    with serve_gateway(api_key=KEY, llm=OPENAI, chunking={"strategy": "sentence", "size": 400}) as served:
        documents = [{"id": "cats", "text": CATS}, {"id": "rockets", "text": ROCKETS}]
        response = httpx.post(f"{served.url}/v1/documents", json={"documents": documents}, headers={"X-API-Key": KEY})
        assert response.status_code == 200
        yield served


def client(served: Served, **options: Any) -> openai.OpenAI:
    # No retries: a test of an error wants the error, not the SDK's backoff.
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=options.pop("api_key", KEY), max_retries=0, **options)


def test_the_pipeline_is_listed_as_a_model(gateway: Served) -> None:
    models = client(gateway).models.list()
    assert [model.id for model in models.data] == ["bot"]
    assert client(gateway).models.retrieve("bot").owned_by == "ragops"
    with pytest.raises(openai.NotFoundError):
        client(gateway).models.retrieve("gpt-4o")


def test_sync_client_gets_a_cited_answer_with_usage(gateway: Served) -> None:
    completion = client(gateway).chat.completions.create(
        model="bot", messages=[{"role": "user", "content": QUESTION}], temperature=0.7, max_tokens=50
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert 0 < completion.usage.completion_tokens < completion.usage.prompt_tokens
    # The extension field, which the SDK keeps as an extra attribute.
    citations = (completion.model_extra or {})["citations"]
    assert [(c["number"], c["document_id"], c["chunk_index"]) for c in citations] == [(1, "cats", 0)]
    assert citations[0]["text"] == CATS
    # The request's sampling settings reach the LLM; the pipeline's own go when none is set.
    sent = gateway.provider.posts("/v1/chat/completions")[-1].body
    assert (sent["temperature"], sent["max_tokens"]) == (0.7, 50)
    client(gateway).chat.completions.create(model="bot", messages=[{"role": "user", "content": QUESTION}])
    sent = gateway.provider.posts("/v1/chat/completions")[-1].body
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 1024)


def test_sync_stream_in_openai_chunks(gateway: Served) -> None:
    stream = client(gateway).chat.completions.create(
        model="bot", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == ANSWER
    assert len(chunks) > 4  # piece by piece, not one blob
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["citations"][0]["document_id"] == "cats"


async def test_async_client_streams_with_usage(gateway: Served) -> None:
    async_client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    stream = await async_client.chat.completions.create(
        model="bot",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    usage = None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == ANSWER
    assert usage is not None and usage.completion_tokens > 0
    whole = await async_client.chat.completions.create(model="bot", messages=[{"role": "user", "content": QUESTION}])
    assert whole.choices[0].message.content == ANSWER
    assert whole.usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    await async_client.close()


def test_history_is_kept_and_only_the_last_user_message_retrieves(gateway: Served) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "tell me about rocket engines"},
        {"role": "assistant", "content": "They produce thrust [1]."},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    completion = client(gateway).chat.completions.create(model="bot", messages=messages)
    # Retrieval used the last question only: the cats passage, not the rockets of the earlier turn.
    assert [c["document_id"] for c in (completion.model_extra or {})["citations"]] == ["cats"]
    sent = gateway.provider.posts("/v1/chat/completions")[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"].startswith("You answer questions using only the numbered context passages")
    assert sent[0]["content"].endswith("Answer in one sentence.")
    assert sent[1:3] == messages[1:3]
    assert sent[3]["content"].startswith("Context passages:\n\n[1] (document cats, chunk 0)")
    assert sent[3]["content"].endswith(f"Question: {QUESTION}")


def test_errors_raise_the_sdks_usual_exceptions(gateway: Served) -> None:
    user = [{"role": "user", "content": QUESTION}]
    with pytest.raises(openai.AuthenticationError) as auth:
        client(gateway, api_key="wrong").chat.completions.create(model="bot", messages=user)
    assert auth.value.message == "Error code: 401 - missing or invalid API key"  # read from error.message
    with pytest.raises(openai.BadRequestError) as bad:
        client(gateway).chat.completions.create(model="bot", messages=[])
    assert bad.value.param == "messages"
    with pytest.raises(openai.BadRequestError, match="last message must be a user message"):
        client(gateway).chat.completions.create(model="bot", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as image:
        client(gateway).chat.completions.create(
            model="bot", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
        )
    assert (image.value.param or "").startswith("messages.0.content")
    with pytest.raises(openai.NotFoundError) as unknown:
        client(gateway).chat.completions.create(model="gpt-4o", messages=user)
    assert unknown.value.code == "model_not_found"
    gateway.provider.fail(500, times=3)  # the LLM fails on every attempt (2 retries)
    with pytest.raises(openai.APIStatusError) as failed:
        client(gateway).chat.completions.create(model="bot", messages=user)
    assert failed.value.status_code == 502 and failed.value.code == "provider_error"


def test_rate_limit_raises_rate_limit_error(serve_gateway: ServeGateway) -> None:
    with serve_gateway(llm=OPENAI, gateway={"rateLimit": {"requestsPerSecond": 1}}) as served:
        sdk = client(served)
        assert [model.id for model in sdk.models.list().data] == ["bot"]
        with pytest.raises(openai.RateLimitError):
            sdk.models.list()


def test_an_llm_failure_before_the_first_token_is_an_http_error_and_after_it_an_error_event(gateway: Served) -> None:
    user = [{"role": "user", "content": QUESTION}]
    gateway.provider.fail(503, times=3)
    with pytest.raises(openai.APIStatusError) as before:
        client(gateway).chat.completions.create(model="bot", messages=user, stream=True)
    assert before.value.status_code == 502
    gateway.provider.stream_error_after = 2
    stream = client(gateway).chat.completions.create(model="bot", messages=user, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="stream reported an error"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Cats purr "


def test_langchain_chat_openai_invokes_and_streams(gateway: Served) -> None:
    llm = ChatOpenAI(model="bot", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0, temperature=0.1)
    reply = llm.invoke([SystemMessage("Be brief."), HumanMessage(QUESTION)])
    assert isinstance(reply, AIMessage)
    assert reply.content == ANSWER
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0
    assert gateway.provider.posts("/v1/chat/completions")[-1].body["temperature"] == 0.1
    pieces = [chunk.content for chunk in llm.stream(QUESTION)]
    assert "".join(str(piece) for piece in pieces) == ANSWER
    assert len(pieces) > 4
    # A conversation LangChain keeps (client-held history) works the same way.
    followup = llm.invoke([HumanMessage("what about rockets"), reply, HumanMessage(QUESTION)])
    assert followup.content == ANSWER
    assert [m["role"] for m in gateway.provider.posts("/v1/chat/completions")[-1].body["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]


async def test_langchain_async(gateway: Served) -> None:
    llm = ChatOpenAI(model="bot", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    assert (await llm.ainvoke(QUESTION)).content == ANSWER
    assert "".join([str(chunk.content) async for chunk in llm.astream(QUESTION)]) == ANSWER


def test_langchain_raises_the_openai_exceptions(gateway: Served) -> None:
    llm = ChatOpenAI(model="bot", base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        llm.invoke(QUESTION)


def test_retrieval_only_pipeline_answers_with_its_sources(serve_gateway: ServeGateway) -> None:
    with serve_gateway(llm={"provider": "none"}) as served:
        httpx.post(f"{served.url}/v1/documents", json={"documents": [{"id": "cats", "text": CATS}]})
        completion = client(served).chat.completions.create(
            model="bot", messages=[{"role": "user", "content": QUESTION}]
        )
        content = completion.choices[0].message.content or ""
        assert content.startswith("This pipeline has no answering model (retrieval only).")
        assert "[1] cats (chunk 0): Cats purr when they are content." in content
        assert [c["document_id"] for c in (completion.model_extra or {})["citations"]] == ["cats"]
        streamed = client(served).chat.completions.create(
            model="bot", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == content
        assert served.provider.posts("/v1/chat/completions") == []  # no LLM was asked


def test_chat_is_counted_in_the_metrics(gateway: Served) -> None:
    client(gateway).chat.completions.create(model="bot", messages=[{"role": "user", "content": QUESTION}])
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'ragops_gateway_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'ragops_gateway_queries_total{mode="chat"} 1.0' in text
    assert 'ragops_gateway_chat_tokens_total{kind="completion"}' in text
