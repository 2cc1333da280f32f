"""Reading a client connection of edge.server: HTTP/1.1 parsed by llhttp (httptools).

llhttp's strict mode refuses every ambiguous framing (the request-smuggling variants of
tests/hostile/test_smuggling.py) with 400, the connection closed. The caps are the ones
edge.serve gives aiohttp (``server.*``): head lines and header fields, the number of headers,
the body's size (413 before it is read when its length is declared), the body's time (408), the
head's time from the connection going idle (closed unanswered: slowloris). ``Expect:
100-continue`` is answered when the request's turn comes; a gzip or deflate body is inflated
under the same cap. docs/hostile.md has the table of behaviours and their tests.

A connection whose first request line is not for a hot endpoint (edge.server.site) is handed to
aiohttp's own protocol with the bytes read so far; a later request for another endpoint on a
lean connection is passed to aiohttp re-framed (edge.server.handoff), in order. What is read is
answered by the base class, edge.server.answers, one request at a time in order.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from typing import TYPE_CHECKING

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from edge.errors import EdgeError, InvalidRequest, PayloadTooLarge

from .answers import GONE, LEAN, MAX_AHEAD, PEEK, RELAY, Answers, Refusal
from .handoff import Relay, hand_over
from .request import LeanRequest

if TYPE_CHECKING:
    from .site import LeanSite

__all__ = ["LeanProtocol"]

log = logging.getLogger("edge.http")



class _Refused(Exception):
    """Raised in a parser callback to stop parsing: the answer is already queued."""


class LeanProtocol(Answers, asyncio.Protocol):
    """A client connection: requests parsed as they arrive, answered one at a time in order."""

    def __init__(self, site: LeanSite) -> None:
        self._site = site
        self._loop = site.loop
        self._state = PEEK
        self._peek = b""
        self.transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = None
        self._relay: Relay | None = None
        self.paused: asyncio.Future[None] | None = None  # set while the transport's buffer is full
        self.closing = False  # drain: finish the answer under way, then close
        self.peer: str | None = None
        # The request being read.
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._head_size = 0
        self._in_head = False
        self._in_body = False
        self._body_timer: asyncio.TimerHandle | None = None
        self._head: tuple[str, str, str, CIMultiDictProxy[str], bool, bytes | None] | None = None
        self._continue = False  # owes "100 Continue" when its turn comes
        # The answers: one task at a time, the rest waiting in order.
        self._queue: deque[LeanRequest | Refusal] = deque()
        self._task: asyncio.Task[None] | None = None
        self._reading_paused = False
        self._idle_since = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is one in all but name
        self._site.connections.add(self)
        if self._site.access_log is not None:
            peer = transport.get_extra_info("peername")
            self.peer = peer[0] if isinstance(peer, tuple) else None
        self._idle_timer = self._loop.call_at(self._idle_since + self._site.keepalive_s, self._idle_check)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state == LEAN or state == RELAY:
            self._feed(data)
        elif state == PEEK:
            self._peek_at(data)
        # LINGER and GONE drop what comes

    def eof_received(self) -> bool | None:
        if self._relay is not None:
            self._relay.eof_received()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = GONE
        self.transport = None
        self._site.connections.discard(self)
        self._cancel_timers()
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()  # the client went away: its handler stops, the upstream closes
        if self.paused is not None and not self.paused.done():
            self.paused.set_result(None)
        if self._relay is not None:
            self._relay.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._relay is not None and self._relay.active:
            self._relay.pause_writing()
        elif self.paused is None:
            self.paused = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._relay is not None and self._relay.active:
            self._relay.resume_writing()
        paused, self.paused = self.paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)

    # -- what the request and the stream call -------------------------------------------------

    async def drain(self) -> None:
        paused = self.paused
        if paused is not None:
            await paused
        if self.transport is None:
            raise ConnectionResetError("Connection lost")

    def shutdown(self) -> None:
        """Drain: an idle connection closes now, a busy one after the answer under way."""
        self.closing = True
        if self._relay is not None:
            return  # aiohttp's server drains the connections it has
        if self._task is None and not self._in_head and not self._in_body:
            self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- reading ------------------------------------------------------------------------------

    def _peek_at(self, data: bytes) -> None:
        """The first request's method and path decide: a hot endpoint stays here, any other
        goes to aiohttp. Only the first bytes count (``POST /v1/...`` up to the space or ``?``
        after the path), so how the line arrives in pieces never changes the decision."""
        peek = self._peek + data if self._peek else data
        hot = _hot_start(peek, self._site.hot_starts)
        if hot is None:
            self._peek = peek
            return
        self._peek = b""
        if hot:
            self._state = LEAN
            self._parser = httptools.HttpRequestParser(self)
            self._feed(peek)
            return
        self._state = GONE
        self._cancel_timers()
        self._site.connections.discard(self)
        assert self.transport is not None
        hand_over(self.transport, self._site.aiohttp_protocol(), peek)

    def _feed(self, data: bytes) -> None:
        if self._in_head:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except _Refused:
            return
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _Refused):
                return
            self._refuse(InvalidRequest("The request could not be read."), close=True)
            log.exception("a parser callback failed")
            return
        except httptools.HttpParserError as exc:
            reason = str(exc).split(":", 1)[-1].strip() or "malformed"
            # llhttp's reason only: the head itself (which may hold a client's key) is not quoted.
            log.debug("refused a malformed request: %s (the head is not quoted)", reason[:200])
            self._refuse(InvalidRequest(f"Malformed HTTP request: {reason[:200]}.", code="malformed_request"), close=True)
            return
        if self._in_head and self._head_size > self._site.max_head:
            self._refuse(InvalidRequest("The request head is too large.", code="header_too_large"), close=True)
        elif self._in_body and self._body_timer is None and self._state == LEAN:
            self._body_timer = self._loop.call_later(self._site.body_timeout_s, self._body_late)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_size = 0
        self._url = []
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        if len(self._url) > 1 and sum(map(len, self._url)) > self._site.max_line:
            self._refuse(InvalidRequest("The request line is too long.", code="header_too_large"), close=True)
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers.append((name, value))
        if len(headers) > self._site.max_headers or len(value) > self._site.max_line or len(name) > self._site.max_line:
            self._refuse(InvalidRequest("The request has too many headers or a header too large.", code="header_too_large"), close=True)
            raise _Refused

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        assert parser is not None
        url = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        path, _, query = url.partition(b"?")
        method = parser.get_method()
        if self._state == RELAY or method != b"POST" or path not in self._site.hot or parser.get_http_version() != "1.1":
            self._to_relay(method, url, parser.get_http_version())
            return
        headers = CIMultiDictProxy(CIMultiDict([(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in self._headers]))
        encoding = headers.get("content-encoding")
        self._head = (path.decode("utf-8", "surrogateescape"), query.decode("utf-8", "surrogateescape"), "POST", headers, parser.should_keep_alive(), encoding.encode("latin-1", "replace").lower() if encoding else None)
        self._body = []
        self._body_size = 0
        length = headers.get("content-length")
        limit = self._site.max_body
        if length is not None and length.isdigit() and int(length) > limit:
            self._refuse(PayloadTooLarge(f"Request body is {int(length)} bytes; the limit is {limit} bytes (server.max_body_mb).", extra_headers={"connection": "close"}), close=True, headers=headers)
            raise _Refused
        self._in_body = True
        if headers.get("expect", "").lower() == "100-continue":
            self._continue = True
            if self._task is None and not self._queue:
                self._send_continue()

    def on_body(self, body: bytes) -> None:
        if self._relay is not None and self._state == RELAY:
            self._relay.body(body)
            return
        self._body_size += len(body)
        if self._body_size > self._site.max_body:
            limit = self._site.max_body
            self._refuse(PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes (server.max_body_mb).", extra_headers={"connection": "close"}), close=True)
            raise _Refused
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._state == RELAY:
            assert self._relay is not None
            self._relay.end()
            return
        assert self._head is not None
        path, query, method, headers, keep_alive, encoding = self._head
        self._head = None
        self._continue = False
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        if encoding is not None and encoding != b"identity":
            inflated = self._inflate(body, encoding, headers)
            if inflated is None:  # refused in its turn; the connection reads on
                return
            body = inflated
        request = LeanRequest(self._site.app, method, path, query, headers, "1.1", keep_alive, body, self._site.max_body, self)
        if self._task is None:
            self._task = self._loop.create_task(self._answer(request))
        else:
            self._queue.append(request)
            if len(self._queue) >= MAX_AHEAD and not self._reading_paused and self.transport is not None:
                self._reading_paused = True
                self.transport.pause_reading()

    def _inflate(self, body: bytes, encoding: bytes, headers: CIMultiDictProxy[str]) -> bytes | None:
        limit = self._site.max_body
        if encoding in (b"gzip", b"x-gzip"):
            wbits = 16 + zlib.MAX_WBITS
        elif encoding == b"deflate":
            wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS  # zlib-wrapped or raw
        else:
            self._refuse(InvalidRequest(f"Content-Encoding '{encoding.decode('latin-1')[:40]}' is not supported; send gzip, deflate or identity."), close=False, headers=headers)
            return None
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            self._refuse(InvalidRequest(f"The request body is not valid {encoding.decode()} data.", code="invalid_json"), close=False, headers=headers)
            return None
        if len(out) > limit or inflater.unconsumed_tail:
            self._refuse(PayloadTooLarge(f"Request body inflates to more than the limit of {limit} bytes (server.max_body_mb)."), close=False, headers=headers)
            return None
        return out

    def _body_late(self) -> None:
        self._body_timer = None
        if self._in_body and self._state == LEAN:
            seconds = self._site.body_timeout_s
            err = EdgeError(f"The request body did not arrive within {seconds:g} s (server.body_timeout_s).", code="body_timeout", extra_headers={"connection": "close"})
            err.status, err.type = 408, "invalid_request_error"
            self._refuse(err, close=True, headers=self._head[3] if self._head is not None else None)

    def _idle_check(self) -> None:
        """One timer per connection, re-armed from the last answer's time (not per request)."""
        self._idle_timer = None
        if self._state == GONE or self._relay is not None:
            return
        now = self._loop.time()
        keepalive = self._site.keepalive_s
        if self._task is not None or self._queue or self._in_body:
            self._idle_timer = self._loop.call_at(now + keepalive, self._idle_check)
        elif now - self._idle_since >= keepalive - 0.001:
            self._close()  # idle, or a head that did not come whole in time: no answer
        else:
            self._idle_timer = self._loop.call_at(self._idle_since + keepalive, self._idle_check)

    def _to_relay(self, method: bytes, url: bytes, version: str) -> None:
        """A request for another endpoint: aiohttp answers it and every one after it."""
        if self._relay is None:
            assert self.transport is not None
            self._state = RELAY
            self._cancel_timers()
            self._relay = Relay(self.transport, self._site.aiohttp_protocol())
        self._relay.head(method, url, version, self._headers)
        if self._task is None and not self._queue:
            self._relay.start()


def _hot_start(peek: bytes, starts: tuple[bytes, ...]) -> bool | None:
    """Whether the bytes start a hot request (``POST <hot path>`` then a space or ``?``); None
    while they are too few to say."""
    for start in starts:
        if peek.startswith(start):
            if len(peek) == len(start):
                return None
            if peek[len(start)] in b" ?":
                return True
        elif start.startswith(peek):
            return None
    return False
