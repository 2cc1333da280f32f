"""Streamed Responses (SSE): the Responses surface's stream sink and its two endings.

The relay (edge/relay.py) does the streaming; this module picks the transcoder and gives the
relay ``ResponsesSSESink``:

- native (the route speaks Responses): edge/responses/native.py passes the upstream's events
  through, model renamed; its final ``response.completed`` is held back;
- bridged: the adapter's decoder, then ``ResponsesEncoder`` (adapters/responses_wire.py's
  writer) turns the normalized chunks into the documented event sequence.

The sink opens a bridged stream with ``response.created`` and ``response.in_progress``, and
ends a good stream by closing the open items, keeping the response (``store`` not false:
edge/responses/pending.py, where a follow-up on any worker or instance finds it), then
writing ``response.completed`` (or ``.incomplete``). A failure after the stream began ends it
with an ``error`` event and ``response.failed``, numbered on from the last event sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from edge.adapters.responses_wire import ResponsesWriter, error_event, sse_event
from edge.adapters.types import Chunk, Usage
from edge.errors import EdgeError, GatewayTimeout

from ..responses.native import NativeResponsesStream
from ..types import StreamState
from .stream import sse_response

__all__ = ["BridgedEnding", "NativeEnding", "ResponsesEncoder", "ResponsesSSESink"]

Save = Callable[[dict[str, Any]], None]


class Ending(Protocol):
    def opening(self) -> bytes: ...

    def closing(self, usage: Usage) -> tuple[dict[str, Any] | None, bytes, bytes]:
        """(the final response, what to write before storing it, its terminal event)."""
        ...

    def failure(self, err: EdgeError, shown: bool) -> bytes: ...


class ResponsesEncoder:
    """The bridge's ``EventEncoder``: chunks of one upstream read -> Responses events."""

    def __init__(self, writer: ResponsesWriter, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self.writer = writer
        self._scrub = scrub

    def encode(self, chunks: list[Chunk]) -> bytes | None:
        data = self.writer.feed(chunks)
        if not data:
            return None
        return self._scrub(data) if self._scrub is not None else data

    def tail(self, state: StreamState) -> None:
        return None  # the sink closes the items and stores the response first


class BridgedEnding:
    def __init__(self, writer: ResponsesWriter) -> None:
        self.writer = writer

    def opening(self) -> bytes:
        return self.writer.opening()

    def closing(self, usage: Usage) -> tuple[dict[str, Any] | None, bytes, bytes]:
        before = self.writer.close_items()
        doc = self.writer.final(usage)
        return doc, before, self.writer.terminal(doc)

    def failure(self, err: EdgeError, shown: bool) -> bytes:
        return self.writer.failure(err.code, err.message, err.param)


class NativeEnding:
    def __init__(self, stream: NativeResponsesStream, public_model: str) -> None:
        self.stream = stream
        self.public_model = public_model

    def opening(self) -> bytes:
        return b""

    def closing(self, usage: Usage) -> tuple[dict[str, Any] | None, bytes, bytes]:
        return self.stream.final_response, b"", self.stream.final_event or b""

    def failure(self, err: EdgeError, shown: bool) -> bytes:
        stream = self.stream
        out = []
        seq = stream.last_seq + 1
        if not shown:
            out.append(sse_event(dict(error_event(err.code, err.message, err.param, err.type), sequence_number=seq)))
            seq += 1
        if not stream.failed_forwarded:
            response = {"id": stream.response_id or "", "object": "response", "status": "failed", "model": self.public_model, "output": [], "error": {"code": err.code or "server_error", "message": err.message}}
            out.append(sse_event({"type": "response.failed", "sequence_number": seq, "response": response}))
        return b"".join(out)


class ResponsesSSESink:
    """Responses SSE to an aiohttp client; ``save`` stores the final response (or None)."""

    def __init__(self, request: web.Request, headers: dict[str, str], ending: Ending, save: Save | None) -> None:
        self._request = request
        self.response = sse_response(headers)
        self.write = self.response.write
        self._ending = ending
        self._save = save

    async def begin(self) -> None:
        await self.response.prepare(self._request)
        opening = self._ending.opening()
        if opening:
            await self.response.write(opening)

    async def end(self, state: StreamState, usage: Usage) -> None:
        doc, before, final = self._ending.closing(usage)
        if before:
            await self.response.write(before)
        if doc is not None and self._save is not None:
            self._save(doc)  # kept before the client sees the end: readable from then on
        # The last event rides with the chunked framing's end: one write (one send).
        await self.response.write_eof(final or b"")

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        await self.response.write_eof(self._ending.failure(failure, shown))

    def deadline_error(self) -> EdgeError:
        return GatewayTimeout("The request's deadline passed while the answer was streaming.", code="deadline_exceeded")

    def cancelled(self) -> tuple[int, str | None, bool]:
        return 499, None, True
