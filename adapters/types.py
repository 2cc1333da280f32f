"""The adapter contract: upstream requests, normalized responses and chunks, upstream errors.

Every adapter turns the inbound OpenAI request (adapters.schema) into an ``UpstreamRequest`` and
turns what the upstream answers into these normalized shapes (tensorzero's
``ProviderInferenceResponseChunk`` and ``FinishReason``). Adapters are pure: they build and parse
bytes and never do I/O, so the server owns sockets, pools and deadlines, and recorded traffic can
be replayed through an adapter without a network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, Protocol

from msgspec import Struct

from edge.fastpath import jsonio

__all__ = [
    "ANTHROPIC_MESSAGES",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "Adapter",
    "ChatResult",
    "Chunk",
    "FinishReason",
    "MessagesUpstream",
    "ModelNames",
    "StreamDecoder",
    "TokenCounter",
    "ToolCallDelta",
    "UpstreamErrorInfo",
    "Unsupported",
    "UpstreamRequest",
    "Usage",
]

# Wire dialects a client or an upstream speaks. An adapter lists the ones whose bytes it can pass
# through unchanged but for the model name (``Adapter.passthrough``); a client surface names the
# one it speaks, and the server takes the byte fast path exactly when the two meet.
OPENAI_CHAT = "openai.chat"
# The OpenAI Responses API (POST /responses and its SSE events): an upstream that declares it gets
# a Responses client's request forwarded as sent, and its stream passed through.
OPENAI_RESPONSES = "openai.responses"
# The Anthropic Messages API (POST /v1/messages and its SSE events): an upstream that declares it
# (``Adapter.native_messages``) gets a Messages client's body as sent, only the model replaced.
ANTHROPIC_MESSAGES = "anthropic.messages"

# A closed set; "unknown" is for upstream values we do not map, so nothing crashes on a new one.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call", "unknown"]


class Unsupported(ValueError):
    """The provider cannot do what was asked (e.g. embeddings on Anthropic); a 400 for the client."""


class UpstreamRequest(Struct):
    """One HTTP request to an upstream, built by an adapter and sent by the server."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class Usage(Struct, omit_defaults=True):
    """Token usage, with cached and reasoning tokens kept apart (never double counted).

    ``prompt_tokens`` includes ``cached_tokens`` (cache reads) and ``cache_write_tokens`` (input
    written to a prompt cache, Anthropic's cache_creation_input_tokens); ``completion_tokens``
    includes ``reasoning_tokens``, as OpenAI counts them. ``cache_write_1h_tokens`` is the part of
    ``cache_write_tokens`` written with a one-hour TTL (Anthropic's ephemeral_1h_input_tokens,
    priced apart from five-minute writes).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        """Two answers' usage together (escalation pays for both); estimated if either was."""
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            estimated=self.estimated or other.estimated,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ToolCallDelta(Struct, omit_defaults=True):
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class UpstreamErrorInfo(Struct, omit_defaults=True):
    """An error as the upstream reported it, already mapped to OpenAI's vocabulary."""

    status: int
    message: str
    type: str = "api_error"
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None


class Chunk(Struct, omit_defaults=True):
    """One normalized piece of a streamed answer (choice 0): what every decoder emits.

    ``reasoning_signature`` is the provider's proof over the reasoning so far (Anthropic's
    signature_delta), which a client must send back unchanged for the next turn to verify.
    """

    content: str | None = None
    reasoning: str | None = None
    reasoning_signature: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    error: UpstreamErrorInfo | None = None


class ChatResult(Struct):
    """A whole (non-streamed) answer: the body to send the client and what it cost."""

    body: bytes
    usage: Usage | None
    finish_reason: str | None = None
    # ``body`` decoded, when the adapter built it from a dict anyway (the gRPC surface reads it
    # instead of decoding the bytes again); never changed after ``body`` was encoded.
    doc: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """The body as a dict (decoded here when the adapter kept none)."""
        if self.doc is not None:
            return self.doc
        doc = jsonio.loads(self.body)
        if not isinstance(doc, dict):
            raise ValueError("the answer is not a JSON object")
        return doc


class StreamDecoder(Protocol):
    """Incremental: bytes in, normalized chunks out (httpx's decode/flush).

    ``done`` turns true once the provider's own end-of-stream marker arrived ([DONE],
    message_stop, a final candidate, ``done: true``): a body that ends before it was cut.
    """

    done: bool

    def feed(self, data: bytes) -> list[Chunk]: ...

    def flush(self) -> list[Chunk]: ...


class MessagesUpstream(Protocol):
    """An upstream that speaks the Anthropic Messages API itself: the client's bytes go through."""

    def messages_request(self, body: bytes, client_model: str, upstream_model: str, stream: bool, headers: Mapping[str, str], query: str, count_tokens: bool = False) -> UpstreamRequest:
        """POST .../messages (or .../messages/count_tokens) with ``body`` as the client sent it
        but for the model; ``headers`` are the client's anthropic-* headers to forward."""
        ...

    def parse_message(self, body: bytes, public_model: str) -> ChatResult:
        """A whole Message as the upstream sent it, the model shown as ``public_model``, and its
        usage (cache writes and reads apart)."""
        ...


class TokenCounter(Protocol):
    """A provider's own exact prompt count (Gemini countTokens) for a chat request."""

    def count_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest: ...

    def parse_count(self, body: bytes) -> int: ...


class ModelNames(NamedTuple):
    """What a valid upstream model name is for one adapter. The gateway checks a client's
    ``<provider>/<model>`` name against it before any upstream call, so nothing in a name can
    become another path segment or reach past a key's model allow-list."""

    pattern: re.Pattern[str]  # must match the whole name
    rule: str  # the rule in words, for the client's 400
    max_length: int = 256

    def problem(self, name: str) -> str | None:
        """What is wrong with ``name``, or None when it is a valid name here."""
        if not name:
            return "it is empty"
        if len(name) > self.max_length:
            return f"it is longer than {self.max_length} characters"
        if self.pattern.fullmatch(name) is None:
            return self.rule
        return None


class Adapter(Protocol):
    """What every provider module offers; its ProviderKind (adapters/kinds.py) builds it."""

    kind: str
    # The client dialects whose requests and streams this upstream speaks byte for byte (see
    # OPENAI_CHAT): for those the server forwards the stream through fastpath's rewriter
    # instead of decoding it into Chunks.
    passthrough: frozenset[str]
    # Valid upstream model names for this dialect (checked before any call; see ModelNames).
    model_names: ModelNames
    # The Messages API spoken natively (ANTHROPIC_MESSAGES in ``passthrough``), else None.
    native_messages: MessagesUpstream | None
    # An exact prompt count the provider offers (count_tokens), else None (the gateway estimates).
    token_counter: TokenCounter | None

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest: ...

    def retry_request(self, body: dict[str, Any], upstream_model: str, status: int, error_body: bytes) -> UpstreamRequest | None:
        """A second form of a refused stream request worth one more try on the same route
        (an OpenAI-format server that rejects stream_options), or None."""
        ...

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest: ...

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult: ...

    def models_request(self) -> UpstreamRequest | None:
        """The request that lists the upstream's own models, or None when it has no such call."""
        ...

    def parse_models(self, body: bytes) -> list[str]: ...

    def parse_error(self, status: int, headers: Any, body: bytes) -> UpstreamErrorInfo: ...

    def native_request(self, dialect: str, path: str, body: bytes, stream: bool) -> UpstreamRequest:
        """A request in a client dialect this upstream speaks as it is (one of ``passthrough``
        other than chat): ``path`` below the base URL (``/responses``), ``body`` already encoded.
        Raises Unsupported for a dialect the upstream does not speak."""
        ...
