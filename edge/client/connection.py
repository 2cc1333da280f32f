"""One keep-alive HTTP/1.1 connection to an upstream (RFC 9112), feeding its current Response.

The connection is an asyncio protocol fed by uvloop; httptools (llhttp, the parser Node.js uses)
frames the response: status line, headers, content-length or chunked bodies, keep-alive. A body
without either ends when the server closes (RFC 9112 section 6.3, rule 8). Bodies in gzip or
deflate are decoded as they arrive (response.py, inflate.py). One exchange at a time; no
pipelining. Bytes after a complete response are a broken server: ignored, and the connection is
not reused.

What the parser holds is bounded as the bytes arrive: httptools keeps a header field until its
line ends and grows it by concatenation, so one line that never ends would cost memory and
quadratic CPU without bound. Every byte before the final head is complete (status line, fields,
1xx responses) counts against ``MAX_HEADER_BYTES`` before the parser sees it, and the exchange
fails at the cap; after the head, ``MAX_HEADER_BYTES`` of input in which the parser delivers no
body and completes nothing (an endless trailer line, chunk extensions) fail it too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools

from .errors import ClientError, InvalidResponse, ResponseTooLarge, ServerDisconnected
from .inflate import Inflater
from .response import HEAD, Response

__all__ = ["MAX_HEADER_BYTES", "Connection"]

# A response head beyond this is a broken or hostile upstream, not an answer.
MAX_HEADER_BYTES = 64 * 1024


class Connection(asyncio.Protocol):
    """The protocol side: bytes in, parser callbacks, and the one response being received."""

    def __init__(self, on_lost: Any) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.keep_alive = False
        self.closed = False
        self.counted = False  # the pool counts it among its open connections
        self.idle_since = 0.0
        self._on_lost = on_lost  # the pool's bookkeeping, called once
        self._return: Any = None
        self._parser = httptools.HttpResponseParser(self)
        self._header_bytes = 0  # fed to the parser before the final head was complete
        self._stalled = 0  # fed after it without the parser making progress
        self._progress = False
        self._framed = False  # content-length or chunked: the body ends on its own
        self._interim = False  # a 1xx response, skipped
        self._surplus = False  # bytes after the complete response: ignored, never reused

    # -- used by the pool -----------------------------------------------------------------

    def send(self, data: bytes, body: bytes, response: Response, on_idle: Any) -> None:
        self.response = response
        self._return = on_idle
        self.keep_alive = False
        self._header_bytes = self._stalled = 0
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
        if response._ending:
            self._surplus, self.keep_alive = True, False
            return
        try:
            if response._stage >= HEAD:
                # _feed, inlined: this is every read of every body.
                self._progress = False
                self._parser.feed_data(data)
                if self._progress:
                    self._stalled = 0
                else:
                    self._stall(len(data))
            else:
                self._feed_head(data, response)
        except httptools.HttpParserUpgrade:
            self._broken(response, InvalidResponse("the upstream switched protocols"))
        except (httptools.HttpParserError, ClientError) as exc:
            cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc
            self._broken(response, cause if isinstance(cause, ClientError) else InvalidResponse(f"malformed HTTP response ({type(exc).__name__})"))

    def _broken(self, response: Response, error: ClientError) -> None:
        if response._ending:
            # The response was complete (its body may still be decoding): what broke came after
            # it, and is dropped with the connection, as any bytes after a response are.
            self.keep_alive = False
        else:
            response._fail(error)
        self.abort()

    def _feed_head(self, data: bytes, response: Response) -> None:
        room = MAX_HEADER_BYTES - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            self._parser.feed_data(data)
            return
        # Only what fits goes to the parser; the rest only if the head completed within it.
        view = memoryview(data)
        self._header_bytes = MAX_HEADER_BYTES
        if room:
            self._parser.feed_data(view[:room])
        if response._stage < HEAD:
            raise ResponseTooLarge(f"the response head is larger than {MAX_HEADER_BYTES} bytes")
        if not response._ending and not self._surplus:
            self._feed(view[room:])

    def _feed(self, data: bytes | memoryview) -> None:
        self._progress = False
        self._parser.feed_data(data)
        if self._progress:
            self._stalled = 0
        else:
            self._stall(len(data))

    def _stall(self, size: int) -> None:
        # Counted per read (uvloop reads at most 256 KiB), so httptools holds at most one read
        # past the cap.
        self._stalled += size
        if self._stalled > MAX_HEADER_BYTES:
            raise ResponseTooLarge(f"more than {MAX_HEADER_BYTES} bytes of response framing without body data")

    def eof_received(self) -> bool | None:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        self.response = None
        if response is not None and not response._finished and not response._ending:
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
        if response is not None and response._ending:
            # A second response to one request (in the same read as the first): a broken
            # server. The answer stays what the first response said; the connection is dropped.
            self._surplus, self.keep_alive = True, False

    def on_header(self, name: bytes, value: bytes) -> None:
        # Bounded by what was fed (``_feed_head``): the fields need no count of their own.
        if self._surplus:
            return
        response = self.response
        if response is not None:
            response._raw.append((name, value))

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None or self._surplus:
            return
        self._progress = True
        status = self._parser.get_status_code()
        if status < 200:
            # Its bytes still count toward the head's cap: a flood of 1xx is no answer either.
            self._interim = True
            response._raw = []
            return
        self._interim = False
        framed = False
        encoding = ""
        length = b""
        for name, value in response._raw:
            # Only three fields matter here; their lengths spare lower-casing the others.
            size = len(name)
            if size == 14 and name.lower() == b"content-length":
                framed = True
                length = value
            elif size == 17 and name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
                framed = True
            elif size == 16 and name.lower() == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        self._framed = framed
        if length:
            response._expect(int(length))  # llhttp accepts digits only
        if encoding:
            if encoding in ("gzip", "x-gzip"):
                response._inflater = Inflater("gzip")
            elif encoding == "deflate":
                response._inflater = Inflater("deflate")
            elif encoding != "identity":
                raise InvalidResponse(f"unsupported content-encoding {encoding!r}")
        response._head(status)

    def on_body(self, body: bytes) -> None:
        self._progress = True
        response = self.response
        if response is not None and not self._interim and not self._surplus:
            if response._inflater is None:
                response._data(body)
            else:
                response._encoded(body)

    def on_message_complete(self) -> None:
        if self._surplus:
            return
        self._progress = True
        if self._interim:
            self._interim = False
            return
        response = self.response
        if response is None:
            return
        self.keep_alive = self._parser.should_keep_alive()
        response._done()

