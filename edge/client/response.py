"""One upstream response as the client's callers see it: status, headers, then the body.

A Response is read either whole (``wait(DONE)``, for plain calls) or as it arrives
(``read_chunk``, for streams), and it owns the exchange's timers: a deadline for the whole
exchange, or a first-byte bound and then an idle bound for streams. Streams apply back-pressure:
above ``HIGH_WATER`` buffered bytes the connection stops reading from the socket until the
reader catches up. What a response may make the gateway hold is bounded as the bytes arrive,
not after: a body read whole, and what a stream has buffered, stop at the client's
``max_body_bytes`` (a declared ``content-length`` above it is refused at the head), and the
memory is dropped with the exchange. gzip and deflate bodies are decoded in steps of ``_STEP``
output bytes (inflate.py), ``_TURN`` bytes per turn of the event loop, with the socket paused
until the decoder has caught up: a bomb costs at most ``max_body_bytes`` of output and never
holds the loop for more than a few milliseconds at a time. The connection (connection.py)
feeds it through the underscored methods.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, NoReturn

from .errors import ClientError, InvalidResponse, ReadTimeout, ResponseTooLarge
from .inflate import Inflater
from .spool import Spool

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["DATA", "DONE", "HEAD", "HIGH_WATER", "MAX_BODY_BYTES", "MAX_STREAM_BYTES", "Response"]

# What a reader waits for; a later stage implies the earlier ones.
HEAD, DATA, DONE = 0, 1, 2

HIGH_WATER = 256 * 1024
# A plain (non-streamed) answer beyond this is not an answer. An LLM's JSON answer is kilobytes
# (a 128k-token completion with logprobs is a few tens of MB); the largest real ones are
# embeddings: 2,048 inputs of 1,536 floats as JSON are about 63 MB (OpenAI SDKs ask for base64,
# a quarter of that). Providers raise it with ``max_response_mb`` (edge/config.py).
MAX_BODY_BYTES = 64 * 1024 * 1024
# A stream beyond this in all (decoded) is not an answer either. Chat chunks are 150-300 bytes a
# token, so a 128k-token answer is 20-40 MB; with top_logprobs 20 a chunk is ~2-3 KB, so the
# same answer is ~300 MB: 256 MiB leaves room for any answer but that one (raise
# ``max_stream_mb`` for it) and stops an upstream that streams forever, or a gzip bomb of
# valid events, long before the deadline would.
MAX_STREAM_BYTES = 256 * 1024 * 1024
# Decoded bytes per zlib call, and per turn of the event loop (a few ms of CPU): between turns
# the loop serves every other request on the worker.
_STEP = 256 * 1024
_TURN = 1024 * 1024
# A body read whole is gathered in a Spool from this size on (spool.py says why).
_GATHER_AT = 1024 * 1024


class Response:
    """Status, headers (names lower-cased) and the body of one upstream response."""

    __slots__ = (
        "status", "_raw", "_headers", "_conn", "_loop", "_chunks", "_size", "_stage", "_error",
        "_waiter", "_want", "_inflater", "_timer", "_idle_s", "_last", "_paused", "_finished",
        "_max_body", "_ending", "_turn", "_wire", "_spool", "_max_stream", "_streamed",
    )

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, max_body: int = MAX_BODY_BYTES, max_stream: int = MAX_STREAM_BYTES) -> None:
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
        self._inflater: Inflater | None = None  # gzip or deflate: the body is decoded in steps
        self._timer: asyncio.TimerHandle | None = None
        self._idle_s = 0.0
        self._last = 0.0
        self._paused = False  # we paused the socket: a slow stream reader, or decoding to catch up
        self._finished = False  # released or closed: the connection is no longer ours
        self._max_body = max_body
        self._ending = False  # the connection saw the body end (DONE once decoding caught up)
        self._turn: asyncio.Handle | None = None  # the next turn of decoding, when one is due
        self._wire = 0  # encoded bytes received, for a body read whole
        self._spool: Spool | None = None  # a large body read whole (spool.py)
        self._max_stream = max_stream
        self._streamed = 0  # decoded bytes a stream has delivered in all

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this response is read on (a reader's own timers go on it)."""
        return self._loop

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
            spool, self._spool = self._spool, None
            if spool is None:
                return b""
            self._size = 0
            return spool.take()
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
        if self._paused or self._inflater is not None:
            self._caught_up()
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
            if self._stage != DONE:
                self._drop()  # the rest was not wanted
            conn.abort()

    def close(self) -> None:
        """Drop the connection at once (a cancelled or failed exchange): the upstream stops."""
        if self._finished:
            return
        self._finished = True
        self._cancel_timer()
        self._drop()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    def _drop(self) -> None:
        """Nobody will read the rest: its memory goes now, not when the last reference does
        (a raised error's traceback can keep the response alive for a while)."""
        self._chunks, self._size = [], 0
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._inflater = None
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None

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

    def _expect(self, length: int) -> None:
        """The head declared ``content-length``: a body read whole that cannot fit is refused
        before a byte of it is read."""
        if length > self._max_body and not self._idle_s:
            self._too_large()

    def _fail(self, error: BaseException) -> None:
        if self._error is not None or self._stage == DONE:
            return
        self._error = error
        self._cancel_timer()
        if isinstance(error, ResponseTooLarge):
            self._drop()  # what came is the problem; a cut stream's last bytes are still read
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _too_large(self) -> NoReturn:
        self._drop()
        raise ResponseTooLarge(f"the body is larger than {self._max_body} bytes")

    def _data(self, data: bytes) -> None:
        """Body bytes as the reader gets them (decoded already, or never encoded)."""
        self._size += len(data)
        if self._size > self._max_body:  # only a whole-body read buffers this much
            self._too_large()
        if self._idle_s:
            streamed = self._streamed = self._streamed + len(data)
            if streamed > self._max_stream:
                self._drop()
                raise ResponseTooLarge(f"the stream is longer than its cap of {self._max_stream} bytes")
            self._chunks.append(data)
            self._last = self._loop.time()
            if self._size > HIGH_WATER and not self._paused and self._want != DONE:
                conn = self._conn
                if conn is not None and conn.transport is not None:
                    self._paused = True
                    conn.transport.pause_reading()
        elif self._spool is not None:
            self._spool.append(data)
        elif self._size > _GATHER_AT:
            self._start_spool(data)
        else:
            self._chunks.append(data)
        if self._want == DATA:
            self._reach(DATA)
        else:
            self._stage = DATA

    def _start_spool(self, data: bytes) -> None:
        """A body read whole passed ``_GATHER_AT``: from now on it grows in a Spool."""
        spool = self._spool = Spool()
        for chunk in self._chunks:
            spool.append(chunk)
        spool.append(data)
        self._chunks = []

    def _encoded(self, data: bytes) -> None:
        """Body bytes in the response's content-encoding: queued, then decoded in turns."""
        inflater = self._inflater
        assert inflater is not None
        if not self._idle_s:
            self._wire += len(data)
            if self._wire > self._max_body:  # e.g. an endless gzip header, which decodes to nothing
                self._too_large()
        inflater.push(data)
        if self._turn is None:
            self._inflate()

    def _behind(self) -> bool:
        """A stream's reader has more than ``HIGH_WATER`` to read: decoding waits for it."""
        return bool(self._idle_s) and self._want != DONE and self._size > HIGH_WATER

    def _inflate(self) -> None:
        """One turn of decoding: at most ``_TURN`` bytes, then the loop gets the next turn.
        While decoding is behind the socket stays paused, so the queue holds about one read."""
        inflater = self._inflater
        if inflater is None:
            return
        budget = _TURN
        while True:
            if inflater.pending and self._behind():
                self._pause()  # read_chunk resumes decoding
                return
            try:
                data = inflater.pull(_STEP)
            except zlib.error:
                raise InvalidResponse("the body does not match its content-encoding") from None
            if not data:
                break  # everything queued is decoded
            self._data(data)
            budget -= len(data)
            if budget <= 0 and inflater.pending:
                self._pause()
                self._turn = self._loop.call_soon(self._next_turn)
                return
        if self._ending:
            self._finish()
        elif self._paused and not self._behind():
            self._resume()

    def _next_turn(self) -> None:
        self._turn = None
        if self._finished or self._error is not None:
            return
        try:
            self._inflate()
        except ClientError as exc:
            self._fail(exc)
            conn = self._conn
            if conn is not None:
                conn.abort()

    def _caught_up(self) -> None:
        """The reader took what was buffered: decode on, or read from the socket again."""
        inflater = self._inflater
        if inflater is not None and inflater.pending:
            if self._turn is None:
                self._turn = self._loop.call_soon(self._next_turn)
        elif self._paused:
            self._resume()

    def _pause(self) -> None:
        conn = self._conn
        if not self._paused and conn is not None and conn.transport is not None and not conn.transport.is_closing():
            self._paused = True
            conn.transport.pause_reading()

    def _resume(self) -> None:
        self._paused = False
        self._last = self._loop.time()
        conn = self._conn
        if conn is not None and conn.transport is not None and not conn.transport.is_closing():
            conn.transport.resume_reading()

    def _done(self) -> None:
        """The connection saw the end of the body."""
        self._ending = True
        if self._inflater is None:
            self._cancel_timer()
            self._reach(DONE)
        elif self._turn is None:
            self._inflate()  # finishes once the queue is decoded

    def _finish(self) -> None:
        inflater, self._inflater = self._inflater, None
        assert inflater is not None
        try:
            rest = inflater.finish()
        except zlib.error:
            raise InvalidResponse("the body does not match its content-encoding") from None
        if rest:
            self._data(rest)
        self._cancel_timer()
        self._reach(DONE)
