"""Chat: a conversation held by the client, answered from the pipeline's documents with cited sources.

The last user message is the question: it alone is embedded and searched (earlier turns would drag the
search towards what was already answered). Earlier turns go to the LLM as history, the most recent first
until `history_tokens` (cl100k_base tokens) is spent, whole turns only: a long conversation keeps its latest
context instead of overflowing the model's window. The client's system messages follow the gateway's own
(the citation rule), so a client can add instructions but not drop the rule.

Without an LLM (`spec.llm` absent or `provider: none`) the reply lists the retrieved passages: a chat UI
pointed at a retrieval-only pipeline is a search box that shows its sources, rather than an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field

from ragops.gateway import tokens
from ragops.gateway.answer import SYSTEM_PROMPT, citations, passages
from ragops.gateway.errors import ApiError
from ragops.gateway.providers.base import ChatModel, ChatOptions, Message
from ragops.gateway.query import QueryService
from ragops.gateway.store import Hit

log = logging.getLogger("ragops.gateway.chat")

# Tokens of earlier turns sent with a question. There is no spec field for it yet: 4096 leaves room for the
# context passages and the answer in an 8k window, the smallest of today's usual chat models.
HISTORY_TOKENS = 4096
NO_CONTEXT = "I found nothing in this pipeline's documents about that, so I cannot answer from them."
RETRIEVAL_ONLY = "This pipeline has no answering model (retrieval only). The most relevant passages:"
EXCERPT_CHARS = 300
SYSTEM_ROLES = ("system", "developer")
HISTORY_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True)
class Conversation:
    """A chat request split the way the gateway uses it."""

    instructions: list[str]  # the client's system/developer messages
    history: list[Turn]  # earlier user/assistant turns, oldest first, within the budget
    question: str
    dropped_turns: int = 0  # earlier turns left out for the budget


@dataclass
class Reply:
    """What the chat answers: the text (with its sources listed) and the passages it cites."""

    hits: list[Hit]
    cited: list[int] = field(default_factory=list)  # 1-based numbers into `hits`
    prompt_tokens: int = 0
    completion_tokens: int = 0


def split_conversation(turns: Sequence[Turn], history_tokens: int = HISTORY_TOKENS) -> Conversation:
    """The last user message is the question; a request whose last non-system message is not from the
    user has nothing to answer (400)."""
    dialogue = [turn for turn in turns if turn.role not in SYSTEM_ROLES]
    if not dialogue or dialogue[-1].role != "user":
        raise ApiError(400, "the last message must be a user message (the question)", param="messages")
    question = dialogue[-1].content
    if not question.strip():
        raise ApiError(400, "the last user message is empty", param="messages")
    earlier = [turn for turn in dialogue[:-1] if turn.role in HISTORY_ROLES and turn.content.strip()]
    kept: list[Turn] = []
    spent = 0
    for turn in reversed(earlier):
        cost = tokens.count(turn.content) + 3
        if spent + cost > history_tokens:
            break
        kept.append(turn)
        spent += cost
    kept.reverse()
    instructions = [turn.content for turn in turns if turn.role in SYSTEM_ROLES and turn.content.strip()]
    return Conversation(instructions, kept, question, dropped_turns=len(earlier) - len(kept))


def build_prompt(conversation: Conversation, hits: Sequence[Hit]) -> list[Message]:
    system = "\n\n".join([SYSTEM_PROMPT, *conversation.instructions])
    messages: list[Message] = [{"role": "system", "content": system}]
    messages += [{"role": turn.role, "content": turn.content} for turn in conversation.history]
    messages.append(
        {"role": "user", "content": f"Context passages:\n\n{passages(hits)}\n\nQuestion: {conversation.question}"}
    )
    return messages


def sources(hits: Sequence[Hit], numbers: Sequence[int]) -> str:
    """The footer naming the cited passages, so that any client, even one that shows only the message
    text, shows where the answer comes from."""
    if not numbers:
        return ""
    lines = [f"[{n}] {hits[n - 1].document_id} (chunk {hits[n - 1].chunk_index})" for n in numbers]
    return "\n\nSources:\n" + "\n".join(lines)


def listing(hits: Sequence[Hit]) -> str:
    """The retrieval-only reply: each passage with an excerpt."""
    lines = [RETRIEVAL_ONLY]
    for number, hit in enumerate(hits, start=1):
        excerpt = " ".join(hit.text.split())
        if len(excerpt) > EXCERPT_CHARS:
            excerpt = excerpt[:EXCERPT_CHARS].rstrip() + "..."
        lines.append(f"[{number}] {hit.document_id} (chunk {hit.chunk_index}): {excerpt}")
    return "\n\n".join(lines)


@dataclass
class ChatService:
    queries: QueryService
    chat: ChatModel | None
    history_tokens: int = HISTORY_TOKENS

    async def retrieve(self, conversation: Conversation) -> list[Hit]:
        return await self.queries.retrieve(conversation.question)

    async def complete(self, conversation: Conversation, options: ChatOptions) -> tuple[str, Reply]:
        hits = await self.retrieve(conversation)
        reply = Reply(hits)
        if not hits:
            text = NO_CONTEXT
        elif self.chat is None:
            text = listing(hits)
            reply.cited = list(range(1, len(hits) + 1))
        else:
            messages = build_prompt(conversation, hits)
            answer = await self.chat.complete(messages, options)
            reply.cited = citations(answer, len(hits))
            reply.prompt_tokens = tokens.count_messages([m["content"] for m in messages])
            text = answer + sources(hits, reply.cited)
        reply.completion_tokens = tokens.count(text)
        return text, reply

    async def open_stream(
        self, conversation: Conversation, options: ChatOptions
    ) -> tuple[AsyncGenerator[str, None], Reply]:
        """The reply's text in pieces, and the Reply, filled in (cited, token counts) once the pieces are
        consumed. The LLM's stream is started here, before any byte goes to the client: when the provider
        fails up front the client gets a plain HTTP error, not a 200 that breaks off."""
        hits = await self.retrieve(conversation)
        reply = Reply(hits)
        if not hits or self.chat is None:
            text = NO_CONTEXT if not hits else listing(hits)
            reply.cited = list(range(1, len(hits) + 1)) if hits else []
            reply.completion_tokens = tokens.count(text)
            return _once(text), reply
        messages = build_prompt(conversation, hits)
        reply.prompt_tokens = tokens.count_messages([m["content"] for m in messages])
        pieces = aiter(self.chat.stream(messages, options))
        try:
            first: str | None = await anext(pieces)
        except StopAsyncIteration:
            first = None
        return self._rest(first, pieces, reply), reply

    async def _rest(self, first: str | None, pieces: AsyncIterator[str], reply: Reply) -> AsyncGenerator[str, None]:
        parts: list[str] = []
        try:
            if first is not None:
                parts.append(first)
                yield first
                async for piece in pieces:
                    parts.append(piece)
                    yield piece
        finally:
            # A client that goes away mid-answer: close the provider's stream now, not whenever GC runs.
            close = getattr(pieces, "aclose", None)
            if close is not None:
                await close()
        answer = "".join(parts)
        reply.cited = citations(answer, len(reply.hits))
        footer = sources(reply.hits, reply.cited)
        if footer:
            yield footer
        reply.completion_tokens = tokens.count(answer + footer)


async def _once(text: str) -> AsyncGenerator[str, None]:
    yield text
