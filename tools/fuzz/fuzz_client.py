"""The upstream client's response parsing (edge.client.connection): any bytes an upstream sends,
in any split, end as a complete response or a ClientError on the response, never as an
exception out of the protocol callbacks (which would kill uvloop's read path); and the split
never changes the outcome (status, headers, body, error type).

The connection (and its Response, edge.client.response) is driven as uvloop drives it (data_received, then connection_lost) over a
transport stand-in that records what the client did to the socket; no event loop runs.
"""

from __future__ import annotations

import asyncio

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
    for piece in pieces:
        if transport.closing:
            break
        conn.data_received(piece)  # must never raise
    if not transport.closing:
        conn.connection_lost(None)
    response._cancel_timer()
    error = type(response._error).__name__ if response._error is not None else None
    body = b"".join(response._chunks)
    if response._stage == 2 and error is None:  # DONE
        assert 200 <= response.status <= 999, response.status
        assert all(isinstance(k, str) and k == k.lower() for k in response.headers)
    return (response.status, tuple(sorted(response.headers.items())), body, response._stage, error)


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
    chunked = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata: \r\n3\r\nabc\r\n0\r\n\r\n"
    return [
        b"\x00\x00" + b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}",
        b"\x01\x05" + chunked,
        b"\x00\x09" + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n",
        b"\x01\x00" + b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 20\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00C\xbf\xa6\xa3\x02\x00",
        b"\x00\x03" + b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody until the end",
    ]


if __name__ == "__main__":
    main("client", one_input, seeds())
