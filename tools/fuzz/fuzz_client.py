"""The upstream client's response parsing (edge.client.connection): any bytes an upstream sends,
in any split, end as a complete response or a ClientError on the response, never as an
exception out of the protocol callbacks (which would kill uvloop's read path); and the split
never changes the outcome (status, headers, body, error type).

The connection (and its Response, edge.client.response) is driven as uvloop drives it (data_received, then connection_lost) over a
transport stand-in that records what the client did to the socket. Between reads the event loop
gets a turn, as it would: a gzip or deflate body is decoded in turns scheduled on it. In the
streamed mode a reader takes what arrived after every read, as read_chunk does, so the stream's
back-pressure lets decoding go on.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import atheris

with atheris.instrument_imports(include=["edge.client"]):
    from edge.client.connection import Connection
    from edge.client.response import Response

from tools.fuzz._harness import main, splits


class _Transport:
    def __init__(self) -> None:
        self.closing = False
        self.paused = False

    def write(self, data: bytes) -> None:
        pass

    def writelines(self, data: object) -> None:
        pass

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def _run(loop: asyncio.AbstractEventLoop, pieces: list[bytes], streamed: bool) -> tuple[object, ...]:
    conn = Connection(lambda c: None)
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    response = Response(conn, loop)
    if streamed:
        response._idle_s = 30.0  # the stream path: back-pressure and activity stamps run too
    conn.send(b"POST / HTTP/1.1\r\n\r\n", b"{}", response, lambda c: None)
    read: list[bytes] = []
    for piece in pieces:
        if transport.closing:
            break
        conn.data_received(piece)  # must never raise
        _settle(loop, response, read if streamed else None)
    if not transport.closing:
        conn.connection_lost(None)
        _settle(loop, response, read if streamed else None)
    response._cancel_timer()
    error = type(response._error).__name__ if response._error is not None else None
    body = b"".join(read) + b"".join(response._chunks)
    if response._stage == 2 and error is None:  # DONE
        assert 200 <= response.status <= 999, response.status
        assert all(isinstance(k, str) and k == k.lower() for k in response.headers)
    return (response.status, tuple(sorted(response.headers.items())), body, response._stage, error)


def _settle(loop: asyncio.AbstractEventLoop, response: Response, read: list[bytes] | None) -> None:
    """The loop's turns until nothing is scheduled; a stream's reader reads in between."""
    while True:
        if read is not None and response._chunks:
            read.append(response.body)
            response._caught_up()  # what read_chunk does after taking the data
        if response._turn is None:
            return
        loop.run_until_complete(asyncio.sleep(0))


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    streamed = bool(data[0] & 1)
    body, pieces = splits(data[1:])
    loop = asyncio.new_event_loop()
    try:
        split = _run(loop, pieces, streamed)
        whole = _run(loop, [body] if body else [], streamed)
    finally:
        loop.close()
    if split[4] is None and whole[4] is None:
        assert split == whole, f"the split changed the response:\n{whole!r}\n{split!r}"
    else:
        # A failed exchange: the body read before the failure may differ with the split, the
        # outcome (status seen, error type) may not.
        assert (split[0], split[4]) == (whole[0], whole[4]), f"the split changed the outcome:\n{whole!r}\n{split!r}"


def seeds() -> list[bytes]:
    bomb = gzip.compress(bytes(1536 * 1024), mtime=0)
    deflated = zlib.compress(b"data: {}\n\n" * 150_000)
    chunked = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\nabc\r\n0\r\n\r\n"
    return [
        b"\x00\x00" + b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}",
        b"\x01\x05" + chunked,
        b"\x00\x09" + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n",
        b"\x01\x00" + b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 20\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00C\xbf\xa6\xa3\x02\x00",
        b"\x00\x03" + b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody until the end",
        # Decoded in more than one turn of the loop (1.5 MiB from 2 kB), read whole and streamed.
        b"\x00\x00" + b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(bomb), bomb),
        b"\x01\x00" + b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nx-trailer: 1\r\n\r\n" % (len(deflated), deflated),
    ]


if __name__ == "__main__":
    main("client", one_input, seeds())
