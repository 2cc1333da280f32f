"""Typed structs for the inbound OpenAI HTTP schema (chat completions and embeddings).

Follows the OpenAI OpenAPI spec (``CreateChatCompletionRequest``, ``CreateEmbeddingRequest``):
see shared/reference/wire-formats.md sections 1.2, 1.3 and 1.8. These structs validate what a
client sent; they do not drop anything: the raw decoded body travels beside them so that fields
we do not model (new OpenAI parameters, vendor extensions) reach an OpenAI-format upstream
unchanged. Translating adapters (Anthropic, Gemini, Ollama) read the typed fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "CacheControl",
    "ChatRequest",
    "ContentPart",
    "EmbeddingsRequest",
    "FunctionDef",
    "ImageURL",
    "Message",
    "ResponseFormat",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "ToolCallFunction",
]

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ImageURL(Struct, omit_defaults=True):
    url: str
    detail: str | None = None


class CacheControl(Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A prompt-cache hint on a content part or a tool (the convention OpenRouter and LiteLLM
    accept, after Anthropic's ``cache_control``): the prefix that ends here is worth caching."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class ContentPart(Struct, omit_defaults=True):
    """One part of a multi-part message. Unknown part types are allowed and passed on."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None
    input_audio: dict[str, Any] | None = None
    file: dict[str, Any] | None = None
    refusal: str | None = None
    # Spec 2.3.0: ``{"mode": "explicit"}`` marks the end of a reusable prompt prefix.
    prompt_cache_breakpoint: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolCallFunction(Struct):
    name: str
    arguments: str = ""


class ToolCall(Struct, omit_defaults=True):
    id: str
    function: ToolCallFunction
    type: str = "function"


class Message(Struct, omit_defaults=True):
    role: Role
    content: Union[str, list[ContentPart], None] = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    # Non-standard but common on the way back in (DeepSeek, vLLM reasoning parsers).
    reasoning_content: str | None = None
    # The provider's signature over that reasoning (a Responses reasoning item's
    # encrypted_content, adapters/responses_bridge.py), for providers that need it back.
    reasoning_signature: str | None = None


class FunctionDef(Struct, omit_defaults=True):
    name: Annotated[str, Meta(min_length=1)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Struct, omit_defaults=True):
    type: str = "function"
    function: FunctionDef | None = None
    cache_control: CacheControl | None = None


class JSONSchemaFormat(Struct, omit_defaults=True):
    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(Struct, omit_defaults=True):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


NonNegInt = Annotated[int, Meta(ge=0)]
PosInt = Annotated[int, Meta(ge=1)]


class ChatRequest(Struct, omit_defaults=True):
    """POST /v1/chat/completions: the fields the gateway reads or validates."""

    model: Annotated[str, Meta(min_length=1)]
    messages: Annotated[list[Message], Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: Union[str, dict[str, Any], None] = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    max_tokens: NonNegInt | None = None
    max_completion_tokens: NonNegInt | None = None
    n: PosInt | None = None
    stop: Union[str, list[str], None] = None
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: NonNegInt | None = None
    user: str | None = None
    safety_identifier: str | None = None
    metadata: dict[str, str] | None = None
    reasoning_effort: str | None = None


# OpenAI allows a string, or an array of strings, of token ids, or of token-id arrays.
# msgspec unions take one array type, so the array's items are checked by ``input_error``.
EmbeddingInput = Union[str, Annotated[list[Union[str, int, list[int]]], Meta(min_length=1, max_length=2048)]]


class EmbeddingsRequest(Struct, omit_defaults=True):
    """POST /v1/embeddings."""

    model: Annotated[str, Meta(min_length=1)]
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: PosInt | None = None
    user: str | None = None

    def input_error(self) -> str | None:
        """Why ``input`` is not one of OpenAI's four shapes, or None when it is."""
        if isinstance(self.input, str):
            return None
        kinds = {type(item) for item in self.input}
        if len(kinds) > 1:
            return "'input' must be a string or an array of strings, of token ids or of token-id arrays, not a mix."
        return None


# Re-exported so callers can catch validation failures without importing msgspec.
ValidationError = msgspec.ValidationError
