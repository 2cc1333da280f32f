"""One keep-alive HTTP/1.1 connection to an upstream (RFC 9112), and the response it is receiving.

The connection is an asyncio protocol fed by uvloop; httptools (llhttp, the parser Node.js uses)
frames the response: status line, headers, content-length or chunked bodies, keep-alive. A body
without either ends when the server closes (RFC 9112 section 6.3, rule 8). Bodies in gzip or
deflate are decoded as they arrive. One exchange at a time; no pipelining.

A Response is read either whole (``wait(DONE)``, for plain calls) or as it arrives
(``read_chunk``, for streams). Streams apply back-pressure: above ``HIGH_WATER`` buffered bytes
the connection stops reading from the socket until the reader catches up. Headers are capped at
``MAX_HEADER_BYTES`` and bodies at the client's ``max_body_bytes`` (a decompressed piece too),
so an upstream cannot make the gateway buffer without bound. Bytes after a complete response
are a broken server: ignored, and the connection is not reused.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import httptools

from .errors import ClientError, InvalidResponse, ReadTimeout, ServerDisconnected

__all__ = ["DATA", "DONE", "HEAD", "Connection", "Response"]

# What a reader waits for; a later stage implies the earlier ones.
HEAD, DATA, DONE = 0, 1, 2

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
# Response headers beyond this are a broken or hostile upstream, not an answer.
MAX_HEADER_BYTES = 64 * 1024
# A body read whole, or one decoded piece of any body, beyond this is not an answer either: the
# largest real ones (2,048 embeddings of 3,072 floats as JSON) are about 80 MB.
MAX_BODY_BYTES = 256 * 1024 * 1024


class Response:
    """Status, headers (names lower-cased) and the body of one upstream response."""

    __slots__ = (
        "status", "headers", "_conn", "_loop", "_chunks", "_size", "_stage", "_error",
        "_waiter", "_want", "_decoder", "_timer", "_idle_s", "_last", "_paused", "_finished",
        "_max_body",
    )

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, max_body: int = MAX_BODY_BYTES) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._conn: Connection | None = conn
        self._loop = loop
        self._chunks: list[bytes] = []
        self._size = 0
        self._stage = -1  # the last stage reached: HEAD, DATA (some body) or DONE
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._want = DONE
        self._decoder: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle_s = 0.0
        self._last = 0.0
        self._paused = False
        self._finished = False  # released or closed: the connection is no longer ours
        self._max_body = max_body

    # -- reading --------------------------------------------------------------------------

    async def wait(self, stage: int) -> None:
        """Until ``stage`` is reached; raises what broke the exchange first."""
        while self._stage < stage and self._error is None:
            self._want = stage
            waiter = self._waiter = self._loop.create_future()
            await waiter
        if self._error is not None and (self._stage < stage or stage == DONE):
            raise self._error

    @property
    def body(self) -> bytes:
        """What has arrived and not been read yet (the whole body after ``wait(DONE)``)."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks, self._size = [], 0
        return data

    async def read(self) -> bytes:
        """The rest of the body."""
        await self.wait(DONE)
        return self.body

    async def read_chunk(self) -> bytes:
        """What arrived since the last read (waiting for it); b"" once the body is complete."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._stage == DONE:
                return b""
            self._want = DATA
            waiter = self._waiter = self._loop.create_future()
            await waiter
        data = self.body
        if self._paused:
            self._paused = False
            self._last = self._loop.time()
            conn = self._conn
            if conn is not None and conn.transport is not None:
                conn.transport.resume_reading()
        return data

    # -- timeouts -------------------------------------------------------------------------

    def deadline(self, when: float) -> None:
        """Fail with TimeoutError unless the response is complete by loop time ``when``."""
        self._timer = self._loop.call_at(when, self._expired, False)

    def idle_bound(self, first_byte_at: float, idle_s: float) -> None:
        """Headers by loop time ``first_byte_at``; then at most ``idle_s`` between body reads."""
        self._idle_s = idle_s
        self._timer = self._loop.call_at(first_byte_at, self._expired, True)

    def _expired(self, idle: bool) -> None:
        self._timer = None
        if self._stage == DONE or self._error is not None:
            return
        if idle and self._stage >= HEAD:
            # Data counts as activity; so does holding the socket paused for a slow reader
            # (read_chunk restarts the clock when it resumes reading).
            now = self._loop.time()
            quiet_until = now + self._idle_s if self._paused else self._last + self._idle_s
            if quiet_until > now:
                self._timer = self._loop.call_at(quiet_until, self._expired, True)
                return
            self._fail(ReadTimeout(f"no data for {self._idle_s:g} s"))
        else:
            self._fail(TimeoutError())
        self.close()

    # -- end of the exchange --------------------------------------------------------------

    def release(self) -> None:
        """Give the connection back: to the pool when the body was read to its end on a
        keep-alive connection, else closed."""
        if self._finished:
            return
        self._finished = True
        self._cancel_timer()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._stage == DONE and self._error is None and conn.keep_alive:
            # The body is all here (maybe unread): the connection is free for the next call.
            if self._paused:
                self._paused = False
                if conn.transport is not None:
                    conn.transport.resume_reading()
            conn.idle()
        else:
            conn.abort()

    def close(self) -> None:
        """Drop the connection at once (a cancelled or failed exchange): the upstream stops."""
        if self._finished:
            return
        self._finished = True
        self._cancel_timer()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- fed by the connection ------------------------------------------------------------

    def _reach(self, stage: int) -> None:
        self._stage = stage
        waiter = self._waiter
        if waiter is not None and stage >= self._want:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _head(self, status: int) -> None:
        self.status = status
        now = self._last = self._loop.time()
        if self._idle_s:
            # From the first byte on, the idle bound replaces the first-byte bound.
            self._cancel_timer()
            self._timer = self._loop.call_at(now + self._idle_s, self._expired, True)
        self._reach(HEAD)

    def _fail(self, error: BaseException) -> None:
        if self._error is not None or self._stage == DONE:
            return
        self._error = error
        self._cancel_timer()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _data(self, data: bytes) -> None:
        if self._decoder is not None:
            decoder = self._decoder
            try:
                data = decoder.decompress(data, self._max_body)
            except zlib.error:
                raise InvalidResponse("the body does not match its content-encoding") from None
            if decoder.unconsumed_tail:  # a decompression bomb
                raise InvalidResponse(f"the body is larger than {self._max_body} bytes")
            if not data:
                return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self._max_body:  # only a whole-body read buffers this much
            raise InvalidResponse(f"the body is larger than {self._max_body} bytes")
        if self._idle_s:
            self._last = self._loop.time()
            if self._size > HIGH_WATER and not self._paused and self._want != DONE:
                conn = self._conn
                if conn is not None and conn.transport is not None:
                    self._paused = True
                    conn.transport.pause_reading()
        if self._want == DATA:
            self._reach(DATA)
        else:
            self._stage = DATA

    def _done(self) -> None:
        if self._decoder is not None:
            try:
                rest = self._decoder.flush()
            except zlib.error:
                raise InvalidResponse("the body does not match its content-encoding") from None
            if rest:
                self._chunks.append(rest)
                self._size += len(rest)
        self._cancel_timer()
        self._reach(DONE)


class Connection(asyncio.Protocol):
    """The protocol side: bytes in, parser callbacks, and the one response being received."""

    def __init__(self, on_lost: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.keep_alive = False
        self.closed = False
        self.idle_since = 0.0
        self._on_lost = on_lost  # the pool's bookkeeping, called once
        self._return: Any = None
        self._parser = httptools.HttpResponseParser(self)
        self._header_bytes = 0
        self._framed = False  # content-length or chunked: the body ends on its own
        self._interim = False  # a 1xx response, skipped
        self._surplus = False  # bytes after the complete response: ignored, never reused

    # -- used by the pool -----------------------------------------------------------------

    def send(self, data: bytes, body: bytes, response: Response, on_idle: Any) -> None:
        self.response = response
        self._return = on_idle
        self.keep_alive = False
        self._header_bytes = 0
        self._surplus = False
        transport = self.transport
        assert transport is not None
        if len(body) > 65536:
            transport.writelines((data, body))
        else:
            transport.write(data + body if body else data)

    def idle(self) -> None:
        self.response = None
        on_idle, self._return = self._return, None
        if self.closed or on_idle is None:
            self.abort()
        else:
            on_idle(self)

    def abort(self) -> None:
        self.response = None
        self._return = None
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- asyncio protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response._finished:
            # Bytes nobody asked for (e.g. a server's 408 on an idle connection): the
            # connection's state is unknown now, so it is not reused.
            self.abort()
            return
        if response._stage == DONE:
            self._surplus, self.keep_alive = True, False
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            response._fail(InvalidResponse("the upstream switched protocols"))
            self.abort()
        except (httptools.HttpParserError, ClientError) as exc:
            cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc
            response._fail(cause if isinstance(cause, ClientError) else InvalidResponse(f"malformed HTTP response ({type(exc).__name__})"))
            self.abort()

    def eof_received(self) -> bool | None:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        self.response = None
        if response is not None and not response._finished and response._stage != DONE:
            if response._stage >= HEAD and not self._framed and not self._interim:
                try:
                    response._done()  # a body delimited by the end of the connection
                except ClientError as err:
                    response._fail(err)
            else:
                response._fail(ServerDisconnected("the upstream closed the connection mid-response"))
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            on_lost(self)

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        response = self.response
        if response is not None and response._stage == DONE:
            # A second response to one request (in the same read as the first): a broken
            # server. The answer stays what the first response said; the connection is dropped.
            self._surplus, self.keep_alive = True, False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._surplus:
            return
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise InvalidResponse("response headers are too large")
        response = self.response
        if response is None:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = response.headers
        headers[key] = headers[key] + ", " + text if key in headers else text

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None or self._surplus:
            return
        status = self._parser.get_status_code()
        if status < 200:
            self._interim = True
            response.headers = {}
            self._header_bytes = 0
            return
        self._interim = False
        headers = response.headers
        self._framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        encoding = headers.get("content-encoding")
        if encoding:
            encoding = encoding.strip().lower()
            if encoding in ("gzip", "x-gzip"):
                response._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                response._decoder = _Deflate()
            elif encoding != "identity":
                raise InvalidResponse(f"unsupported content-encoding {encoding!r}")
        response._head(status)

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is not None and not self._interim and not self._surplus:
            response._data(body)

    def on_message_complete(self) -> None:
        if self._surplus:
            return
        if self._interim:
            self._interim = False
            return
        response = self.response
        if response is None:
            return
        self.keep_alive = self._parser.should_keep_alive()
        response._done()


class _Deflate:
    """HTTP "deflate" is zlib-wrapped by the RFC, raw in some servers: accept both."""

    def __init__(self) -> None:
        self._inner: Any = None
        self._head = b""

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail if self._inner is not None else b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._inner is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            zlib_wrapped = (self._head[0] & 0x0F) == 8 and ((self._head[0] << 8) | self._head[1]) % 31 == 0
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        return self._inner.decompress(data, max_length)

    def flush(self) -> bytes:
        if self._inner is None:
            return b""
        return self._inner.flush()
