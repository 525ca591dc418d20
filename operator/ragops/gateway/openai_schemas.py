"""Bodies of the OpenAI-compatible endpoints, in OpenAI's own field names (snake_case).

Requests accept the fields OpenAI clients commonly send; the ones the gateway has no use for (top_p, stop,
seed, user, tools...) are ignored rather than refused, as most OpenAI-compatible servers do, so that any
client works unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGES = 1000
# What the answering model may be asked for at most; the LLMSpec bound.
MAX_TOKENS_LIMIT = 131072


class OpenAIModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(OpenAIModel):
    """A content part; only text is supported (the pipeline retrieves and answers text)."""

    type: Literal["text"]
    text: str = Field(max_length=1_000_000)


class ChatMessage(OpenAIModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(
        default=None, description="Text, or a list of text parts (joined with newlines)."
    )
    name: str | None = Field(default=None, max_length=256)

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class StreamOptions(OpenAIModel):
    include_usage: bool = Field(default=False, description="Send a last chunk with the usage counts.")


class ChatCompletionRequest(OpenAIModel):
    model: str = Field(min_length=1, max_length=256, description="The pipeline's model id (see GET /v1/models).")
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation, oldest first; the last user message is the question.",
    )
    stream: bool | None = Field(default=False, description="Answer as server-sent events in OpenAI's chunk format.")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(
        default=None, ge=0, le=2, allow_inf_nan=False, description="Default: the pipeline's spec.llm.temperature."
    )
    max_tokens: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS_LIMIT, description="Default: the pipeline's spec.llm.maxTokens."
    )
    max_completion_tokens: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS_LIMIT, description="Newer name of max_tokens; wins when both are set."
    )
    n: int | None = Field(default=None, ge=1, le=1, description="Only 1 choice is supported.")


class Usage(BaseModel):
    """Token counts in cl100k_base tokens, counted by the gateway (exact for OpenAI's GPT-4 family)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Citation(BaseModel):
    """A passage the answer cites as [number]."""

    number: int = Field(description="The n of [n] in the answer.")
    document_id: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation] = Field(
        description="The cited passages (an extension: OpenAI clients ignore it). Also listed under "
        "'Sources:' at the end of the message."
    )


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
