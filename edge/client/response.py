"""One upstream response as the client's callers see it: status, headers, then the body.

A Response is read either whole (``wait(DONE)``, for plain calls) or as it arrives
(``read_chunk``, for streams), and it owns the exchange's timers: a deadline for the whole
exchange, or a first-byte bound and then an idle bound for streams. Streams apply back-pressure:
above ``HIGH_WATER`` buffered bytes the connection stops reading from the socket until the
reader catches up. Bodies are capped at the client's ``max_body_bytes`` (a decompressed piece
too), so an upstream cannot make the gateway buffer without bound. The connection
(connection.py) feeds it through the underscored methods.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, Any

from .errors import InvalidResponse, ReadTimeout

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["DATA", "DONE", "HEAD", "HIGH_WATER", "MAX_BODY_BYTES", "Response"]

# What a reader waits for; a later stage implies the earlier ones.
HEAD, DATA, DONE = 0, 1, 2

HIGH_WATER = 256 * 1024
# A body read whole, or one decoded piece of any body, beyond this is not an answer: the
# largest real ones (2,048 embeddings of 3,072 floats as JSON) are about 80 MB.
MAX_BODY_BYTES = 256 * 1024 * 1024


class Response:
    """Status, headers (names lower-cased) and the body of one upstream response."""

    __slots__ = (
        "status", "_raw", "_headers", "_conn", "_loop", "_chunks", "_size", "_stage", "_error",
        "_waiter", "_want", "_decoder", "_timer", "_idle_s", "_last", "_paused", "_finished",
        "_max_body",
    )

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, max_body: int = MAX_BODY_BYTES) -> None:
        self.status = 0
        # As llhttp hands them over; decoded into ``headers`` only when someone asks (an error's
        # Retry-After, a stream's content-type): most answers are read without a look at them.
        self._raw: list[tuple[bytes, bytes]] = []
        self._headers: dict[str, str] | None = None
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

    @property
    def headers(self) -> dict[str, str]:
        """Names lower-cased; a repeated field's values joined with ", " (RFC 9110 section 5.3)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for name, value in self._raw:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = headers[key] + ", " + text if key in headers else text
        return headers

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
