"""Answering a lean connection's requests: one handler task at a time, in their order.

The base of edge.server.protocol's ``LeanProtocol`` (which reads the requests): what it queues
(a request, or an answer it gives itself for a malformed or oversized one) is answered here,
written from precomputed pieces (edge.server.wire), and the connection kept, lingered on or
closed after it. A handler's LeanResponse or web.Response is written whole with its length; a
LeanStream has written itself. The state both halves share is declared below and set by ``LeanProtocol``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import CIMultiDictProxy

from edge.errors import EdgeError

from . import wire
from .request import LeanRequest, LeanResponse, LeanStream

if TYPE_CHECKING:
    from .handoff import Relay
    from .site import LeanSite

__all__ = ["GONE", "LEAN", "LINGER", "MAX_AHEAD", "PEEK", "RELAY", "Answers", "Refusal"]

log = logging.getLogger("edge.http")

# The connection's states (LeanProtocol reads in PEEK, LEAN and RELAY; LINGER and GONE drop).
PEEK, LEAN, RELAY, LINGER, GONE = range(5)
# Pipelined requests parsed ahead of the one being answered before reading pauses.
MAX_AHEAD = 16
_LINGER_S = 1.0


class Refusal:
    """An answer the protocol gives itself (a malformed or oversized request), in its turn."""

    __slots__ = ("response", "close")

    def __init__(self, response: web.Response, close: bool) -> None:
        self.response = response
        self.close = close



class Answers:
    """The answering half of a lean connection (see the module docstring)."""

    _site: LeanSite
    _loop: asyncio.AbstractEventLoop
    _state: int
    transport: asyncio.Transport | None
    _relay: Relay | None
    closing: bool
    _queue: deque[LeanRequest | Refusal]
    _task: asyncio.Task[None] | None
    _reading_paused: bool
    _idle_since: float
    _idle_timer: asyncio.TimerHandle | None
    _body_timer: asyncio.TimerHandle | None
    _linger: asyncio.TimerHandle | None
    _in_head: bool
    _in_body: bool
    _continue: bool
    _head: tuple[str, str, str, CIMultiDictProxy[str], bool, bytes | None] | None

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)

    def date_line(self) -> bytes:
        return self._site.clock.date_line()

    async def _answer(self, item: LeanRequest | Refusal) -> None:
        try:
            if isinstance(item, Refusal):
                self._write_response(item.response, keep_alive=not item.close)
                if item.close:
                    self._close(linger=True)
                return
            try:
                response = await self._site.handler(item.path)(item)
            except Exception:  # the middleware turns every error into an answer; this is a bug
                log.exception("unhandled error in %s %s", item.method, item.path)
                response = self._site.error(EdgeError("Internal gateway error."), item.headers, item.path)
            if isinstance(response, LeanResponse):
                size = self._write_lean(response, item.keep_alive)
            elif isinstance(response, LeanStream):
                if not response.ended and self.transport is not None:
                    await response.write_eof()
                size = response.body_length
            elif isinstance(response, web.Response):
                size = self._write_response(response, item.keep_alive)
            else:  # a web.StreamResponse, which no hot handler makes: never written here
                log.error("a hot handler answered %s %s with %r", item.method, item.path, type(response).__name__)
                response = self._site.error(EdgeError("Internal gateway error."), item.headers, item.path)
                size = self._write_response(response, item.keep_alive)
            if self._site.access_log is not None:
                self._site.log_access(item, response.status, size)
            if not item.keep_alive or (response.headers.get("connection") or "").lower() == "close":
                self._close(linger=self._in_head or self._in_body)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._task = None
            self._next()

    def _write_response(self, response: web.Response, keep_alive: bool) -> int:
        body = response.body
        assert isinstance(body, bytes)
        closing = not keep_alive or self.closing
        framing = b"content-length: %d\r\nconnection: close\r\n" % len(body) if closing else b"content-length: %d\r\n" % len(body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "connection")] if closing or "content-length" in response.headers else list(response.headers.items())
        self.send(wire.head(response.status, self.date_line(), headers, framing) + body)
        return len(body)

    def _write_lean(self, response: LeanResponse, keep_alive: bool) -> int:
        body = response.body
        framing = b"content-length: %d\r\n" % len(body) if keep_alive and not self.closing else b"content-length: %d\r\nconnection: close\r\n" % len(body)
        self.send(wire.head(response.status, self.date_line(), list(response.headers.items()), framing) + body)
        return len(body)

    def _next(self) -> None:
        if self._state == GONE or self.transport is None:
            return
        if self.closing and self._relay is None:
            self._close()
            return
        if self._queue:
            self._task = self._loop.create_task(self._answer(self._queue.popleft()))
            if self._reading_paused and len(self._queue) < MAX_AHEAD // 2:
                self._reading_paused = False
                self.transport.resume_reading()
            return
        if self._continue:
            self._send_continue()
        if self._relay is not None:
            self._relay.start()  # the lean answers before it are written: aiohttp's turn
            return
        self._idle_since = self._loop.time()

    def _send_continue(self) -> None:
        self._continue = False
        if self.transport is not None:
            self.transport.write(wire.CONTINUE)

    # -- errors, timers, closing --------------------------------------------------------------

    def _refuse(self, err: EdgeError, close: bool, headers: CIMultiDictProxy[str] | None = None) -> None:
        """Answer ``err`` in its turn; with ``close``, read no further request."""
        if self._relay is not None:
            # aiohttp answers this connection's requests now: it gets a line it refuses, so it
            # answers the requests before it, then its own 400, and closes.
            self._state = LINGER
            self._relay.broken()
            return
        path = self._head[0] if self._head is not None else ""
        answer = Refusal(self._site.error(err, headers, path), close)
        if close:
            self._state = LINGER
            self._in_head = self._in_body = False
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
        if self._task is None:
            self._task = self._loop.create_task(self._answer(answer))
        else:
            self._queue.append(answer)

    def _close(self, linger: bool = False) -> None:
        transport = self.transport
        if transport is None:
            return
        if linger and self._state != GONE and self._linger is None:
            # Unread request bytes would make the kernel reset the connection, and the client
            # could lose the answer: read and drop them for a while first.
            self._state = LINGER
            self._cancel_timers()
            self._linger = self._loop.call_later(_LINGER_S, self._close)
            return
        self._state = GONE
        self._cancel_timers()
        transport.close()

    def _cancel_timers(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._linger is not None and self._state == GONE:
            self._linger.cancel()
            self._linger = None
