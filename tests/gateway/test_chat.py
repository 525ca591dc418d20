"""How a conversation becomes an LLM request: the question, the history within its token budget, the rules."""

from __future__ import annotations

import pytest

from ragops.gateway import tokens
from ragops.gateway.chat import NO_CONTEXT, Turn, split_conversation
from ragops.gateway.errors import ApiError
from tests.gateway.conftest import OPENAI, Start


def test_the_most_recent_turns_are_kept_within_the_token_budget() -> None:
    turns = [Turn("system", "Be brief.")]
    for i in range(10):
        turns += [Turn("user", f"question {i} " * 20), Turn("assistant", f"answer {i} " * 20)]
    turns.append(Turn("user", "and now?"))
    per_turn = tokens.count("question 0 " * 20) + 3
    conversation = split_conversation(turns, history_tokens=per_turn * 5)
    assert conversation.question == "and now?"
    assert conversation.instructions == ["Be brief."]
    # Whole turns, the latest ones, oldest first: answer 7, question 8, answer 8, question 9, answer 9.
    assert [turn.content.split()[:2] for turn in conversation.history] == [
        ["answer", "7"],
        ["question", "8"],
        ["answer", "8"],
        ["question", "9"],
        ["answer", "9"],
    ]
    assert conversation.dropped_turns == 15
    assert sum(tokens.count(t.content) + 3 for t in conversation.history) <= per_turn * 5


def test_tool_and_empty_turns_are_not_history() -> None:
    turns = [Turn("user", "a"), Turn("assistant", ""), Turn("tool", "{}"), Turn("developer", "Cite.")]
    turns.append(Turn("user", "b"))
    conversation = split_conversation(turns)
    assert conversation.history == [Turn("user", "a")]
    assert conversation.instructions == ["Cite."]


@pytest.mark.parametrize(
    "turns",
    [[Turn("system", "x")], [Turn("user", "q"), Turn("assistant", "a")], [Turn("user", "   ")]],
)
def test_a_conversation_without_a_last_user_question_is_refused(turns: list[Turn]) -> None:
    with pytest.raises(ApiError) as refused:
        split_conversation(turns)
    assert refused.value.status == 400 and refused.value.param == "messages"


async def test_with_nothing_retrieved_the_llm_is_not_asked(start: Start) -> None:
    async with start(llm=OPENAI, retrieval={"scoreThreshold": 0.99}) as h:
        response = await h.client.post(
            "/v1/chat/completions", json={"model": "bot", "messages": [{"role": "user", "content": "anything"}]}
        )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == NO_CONTEXT
        assert response.json()["citations"] == []
        assert h.provider.posts("/v1/chat/completions") == []


async def test_openapi_covers_the_openai_endpoints(start: Start) -> None:
    async with start() as h:
        paths = (await h.client.get("/openapi.json")).json()["paths"]
        assert {"/v1/chat/completions", "/v1/models", "/v1/models/{model}", "/health"} <= set(paths)
        responses = paths["/v1/chat/completions"]["post"]["responses"]
        assert {"200", "400", "401", "404", "413", "429", "502", "503", "504"} <= set(responses)
        assert "text/event-stream" in responses["200"]["content"]


async def test_a_pipeline_without_llm_retrieves_and_chats_with_its_sources(start: Start) -> None:
    """spec.llm absent (the default now): retrieval only, no provider to call, nothing reported down."""
    async with start(llm=None) as h:
        assert h.gateway.config.spec.llm is None
        await h.ingest(("cats", "Cats purr when they are content."))
        query = (await h.query("cats purr")).json()
        assert [c["documentId"] for c in query["chunks"]] == ["cats"] and query["answer"] is None
        chat = await h.client.post(
            "/v1/chat/completions", json={"model": "bot", "messages": [{"role": "user", "content": "cats purr"}]}
        )
        assert chat.status_code == 200
        assert chat.json()["choices"][0]["message"]["content"].startswith("This pipeline has no answering model")
        health = (await h.client.get("/health")).json()
        assert health["status"] == "ok" and health["components"]["llm"]["status"] == "disabled"
        assert h.provider.requests == []
