"""The contracts of the stream path, shared by every client surface (starlette's types.py).

One upstream stream is relayed by edge.relay: it reads the upstream body, runs it through a
``Transcoder`` and writes what comes out to a ``StreamSink``. A transcoder is either the byte
pass-through (fastpath's rewriter, when the adapter declares the sink's dialect) or an adapter's
``StreamDecoder`` followed by the sink's ``EventEncoder``; either way it keeps a ``StreamState``
of what it saw. A surface (OpenAI chat SSE over HTTP, edge.v1 messages over gRPC, and next the
Responses and Anthropic SSE) adds a sink and an encoder, never a loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from edge.adapters.types import Chunk, FinishReason, UpstreamErrorInfo, Usage

from .errors import EdgeError

__all__ = ["EventEncoder", "Out", "StreamSink", "StreamState", "Transcoder"]

# What a sink writes: SSE bytes for HTTP, one protobuf message for gRPC. ``None`` (or b"") is
# nothing to write. Encoders and transcoders only produce it (covariant), sinks only take it
# (contravariant); ``Out`` is the plain variable for generic classes and functions.
Out = TypeVar("Out")
_Out_co = TypeVar("_Out_co", covariant=True)
_Out_contra = TypeVar("_Out_contra", contravariant=True)


class StreamState:
    """What a relayed stream has shown so far; the relay decides the ending from it."""

    __slots__ = ("done", "error", "error_forwarded", "finish_reason", "malformed", "text_bytes", "usage")

    def __init__(self) -> None:
        self.done = False  # the provider's own end marker arrived
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None
        self.error: UpstreamErrorInfo | None = None  # an in-stream error event
        self.error_forwarded = False  # ...already sent to the client as the upstream worded it
        self.malformed = False  # an event that is not valid JSON (the pass-through cannot tell why)
        self.text_bytes = 0  # UTF-8 size of the text relayed, to estimate tokens without usage

    @property
    def ended(self) -> bool:
        """The upstream finished the answer (its end marker, or a finish reason)."""
        return self.done or self.finish_reason is not None


class EventEncoder(Protocol[_Out_co]):
    """Normalized chunks -> one surface's output, chunk by chunk."""

    def encode(self, chunks: list[Chunk]) -> _Out_co | None:
        """What to write for the chunks of one upstream read (errors already taken out)."""
        ...

    def tail(self, state: StreamState) -> _Out_co | None:
        """What to write once the answer ended well, before the sink's own ending."""
        ...


class Transcoder(Protocol[_Out_co]):
    """Upstream body bytes in any split -> what the sink writes; ``state`` says what was seen."""

    state: StreamState

    def feed(self, data: bytes) -> _Out_co | None: ...

    def flush(self) -> _Out_co | None:
        """The upstream body ended: whatever was held back."""
        ...

    def tail(self) -> _Out_co | None:
        """After a good ending: what the encoder adds last (the usage chunk a client asked for)."""
        ...

    def final(self) -> StreamState:
        """The state, complete (usage read), wherever the stream stopped."""
        ...


class StreamSink(Protocol[_Out_contra]):
    """One client surface's end of a relayed stream."""

    async def begin(self) -> None:
        """Before the first write (HTTP: send the response head)."""
        ...

    # A read-only attribute, not a method, so a sink can hand the relay its transport's own
    # write (one coroutine less per chunk on the hot path).
    @property
    def write(self) -> Callable[[_Out_contra], Awaitable[object]]: ...

    async def end(self, state: StreamState, usage: Usage) -> None:
        """The answer ended well: the surface's last words ([DONE], the final message)."""
        ...

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        """The stream failed after it began: the final error event, or raise for the surface.
        ``shown``: the client already got the upstream's own error event (pass-through)."""
        ...

    def deadline_error(self) -> EdgeError:
        """What the request's deadline passing mid-stream is, in this surface's terms."""
        ...

    def cancelled(self) -> tuple[int, str | None, bool]:
        """The relay was cancelled: (status, error type, client disconnected) for the record."""
        ...
