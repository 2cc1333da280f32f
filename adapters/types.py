"""The adapter contract: upstream requests, normalized responses and chunks, upstream errors.

Every adapter turns the inbound OpenAI request (adapters.schema) into an ``UpstreamRequest`` and
turns what the upstream answers into these normalized shapes (tensorzero's
``ProviderInferenceResponseChunk`` and ``FinishReason``). Adapters are pure: they build and parse
bytes and never do I/O, so the server owns sockets, pools and deadlines, and recorded traffic can
be replayed through an adapter without a network.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from msgspec import Struct

from edge.fastpath import jsonio

__all__ = [
    "Adapter",
    "ChatResult",
    "Chunk",
    "FinishReason",
    "StreamDecoder",
    "ToolCallDelta",
    "UpstreamErrorInfo",
    "Unsupported",
    "UpstreamRequest",
    "Usage",
]

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

    ``prompt_tokens`` includes ``cached_tokens``; ``completion_tokens`` includes
    ``reasoning_tokens``, as OpenAI counts them.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

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
    """One normalized piece of a streamed answer (choice 0)."""

    content: str | None = None
    reasoning: str | None = None
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
    """Incremental: bytes in, normalized chunks out (httpx's decode/flush)."""

    def feed(self, data: bytes) -> list[Chunk]: ...

    def flush(self) -> list[Chunk]: ...


class Adapter(Protocol):
    """What every provider module offers. The registry in adapters/__init__ maps kinds to these."""

    kind: str
    # True when the upstream already speaks OpenAI chat JSON and SSE, so the server forwards its
    # stream through the fastpath rewriter instead of decoding it into Chunks.
    passthrough: bool

    def chat_request(self, body: dict[str, Any], upstream_model: str, stream: bool) -> UpstreamRequest: ...

    def parse_chat(self, body: bytes, public_model: str) -> ChatResult: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def embeddings_request(self, body: dict[str, Any], upstream_model: str) -> UpstreamRequest: ...

    def parse_embeddings(self, body: bytes, public_model: str) -> ChatResult: ...

    def parse_error(self, status: int, headers: Any, body: bytes) -> UpstreamErrorInfo: ...
