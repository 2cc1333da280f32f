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
from edge.fastpath import jsonio

from ..responses.native import NativeResponsesStream
from ..types import StreamState
from .stream import sse_response

__all__ = ["BridgedEnding", "NativeEnding", "ResponsesEncoder", "ResponsesSSESink"]

Save = Callable[[str, bytes], None]  # (the response's id, its JSON as the client gets it)


class Ending(Protocol):
    def opening(self) -> bytes: ...

    def closing(self, usage: Usage) -> tuple[tuple[str, bytes] | None, bytes, bytes]:
        """(the final response's id and JSON, scrubbed, to store, or None; what to write
        before storing it; its terminal event, carrying that JSON)."""
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
    """The bridge's last events repeat the whole text the upstream sent (the .done events, the
    final response), so they are scrubbed as the deltas were: ``scrub_sse`` (Scrubber.sse) for
    events, ``scrub_body`` (Scrubber.bytes) for the response's JSON."""

    def __init__(self, writer: ResponsesWriter, scrub_sse: Callable[[bytes], bytes] | None = None, scrub_body: Callable[[bytes], bytes] | None = None) -> None:
        self.writer = writer
        self._scrub_sse = scrub_sse
        self._scrub_body = scrub_body

    def opening(self) -> bytes:
        return self.writer.opening()

    def closing(self, usage: Usage) -> tuple[tuple[str, bytes] | None, bytes, bytes]:
        before = self.writer.close_items()
        if before and self._scrub_sse is not None:
            before = self._scrub_sse(before)
        doc = self.writer.final(usage)
        encoded = jsonio.dumps(doc)  # once: the stored row and the terminal event's payload
        if self._scrub_body is not None:
            encoded = self._scrub_body(encoded)
        return (str(doc["id"]), encoded), before, self.writer.terminal(doc, encoded)

    def failure(self, err: EdgeError, shown: bool) -> bytes:
        out = self.writer.failure(err.code, err.message, err.param)  # carries the items closed so far
        return self._scrub_sse(out) if self._scrub_sse is not None else out


class NativeEnding:
    def __init__(self, stream: NativeResponsesStream, public_model: str) -> None:
        self.stream = stream
        self.public_model = public_model

    def opening(self) -> bytes:
        return b""

    def closing(self, usage: Usage) -> tuple[tuple[str, bytes] | None, bytes, bytes]:
        stream = self.stream
        stored = (stream.response_id, stream.final_json) if stream.response_id is not None and stream.final_json is not None else None
        return stored, b"", stream.final_event or b""

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
        self.response = sse_response(request, headers)
        self.write = self.response.write
        self._ending = ending
        self._save = save

    async def begin(self) -> None:
        await self.response.prepare(self._request)
        opening = self._ending.opening()
        if opening:
            await self.response.write(opening)

    async def end(self, state: StreamState, usage: Usage) -> None:
        stored, before, final = self._ending.closing(usage)
        if before:
            await self.response.write(before)
        if stored is not None and self._save is not None:
            self._save(*stored)  # kept before the client sees the end: readable from then on
        # The last event rides with the chunked framing's end: one write (one send).
        await self.response.write_eof(final or b"")

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        await self.response.write_eof(self._ending.failure(failure, shown))

    def deadline_error(self) -> EdgeError:
        return GatewayTimeout("The request's deadline passed while the answer was streaming.", code="deadline_exceeded")

    def cancelled(self) -> tuple[int, str | None, bool]:
        return 499, None, True
