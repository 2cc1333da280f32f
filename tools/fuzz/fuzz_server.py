"""edge.server's request parsing (edge.server.protocol): any bytes a client sends, in any split,
end as well-formed HTTP/1.1 answers (or a closed connection), never as an exception out of the
protocol callbacks (which would kill uvloop's read path); and the split never changes what the
client gets back.

The protocol is driven as uvloop drives it (data_received, then connection_lost) over a
transport stand-in that records what is written. Its site is a stand-in with the real caps'
shape (small, so the fuzzer reaches them) whose hot handler answers the body's length, or
streams three chunks when the body starts with ``s``; errors are the gateway's own envelopes
(edge.http.middleware.error_response). Between reads the event loop gets turns until the
answers are written, as it would.
"""

from __future__ import annotations

import asyncio
from typing import Any

import atheris
import httptools
from aiohttp import web

with atheris.instrument_imports(include=["edge.server"]):
    from edge.server import wire
    from edge.server.protocol import LeanProtocol
    from edge.server.request import LeanRequest

from edge.http.middleware import error_response
from tools.fuzz._harness import main, splits


class _Transport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False
        self.reading = True
        self.handed: asyncio.Protocol | None = None

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.out.append(data)

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: asyncio.Protocol) -> None:
        self.handed = protocol


class _Other(asyncio.Protocol):
    """Stands in for aiohttp's protocol: what a non-hot request is handed to."""

    def __init__(self) -> None:
        self.received = b""

    def data_received(self, data: bytes) -> None:
        self.received += data


async def _hot(request: LeanRequest) -> web.StreamResponse:
    body = await request.read()
    if body.startswith(b"s"):
        stream = request.stream_response(200, {"content-type": "text/event-stream"})
        await stream.prepare(request)
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            await stream.write(piece)
        await stream.write_eof(b"data: [DONE]\n\n")
        return stream  # type: ignore[return-value]
    return web.Response(body=b'{"n":%d}' % len(body), content_type="application/json")


class _Site:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.app = web.Application()
        self.connections: set[LeanProtocol] = set()
        self.clock = wire.Clock()
        self.access_log = None
        self.keepalive_s = 30.0
        self.body_timeout_s = 30.0
        self.max_line = 256
        self.max_headers = 12
        self.max_head = 13 * 256
        self.max_body = 4096
        self.hot = frozenset((b"/v1/chat/completions", b"/v1/messages"))
        self.hot_starts = tuple(b"POST " + path for path in self.hot)
        self.others: list[_Other] = []

    def handler(self, path: str) -> Any:
        return _hot

    def aiohttp_protocol(self) -> asyncio.Protocol:
        other = _Other()
        self.others.append(other)
        return other

    def error(self, err: Any, headers: Any, path: str) -> web.Response:
        return error_response(err, "req_fuzz", anthropic=path.startswith("/v1/messages"))


def _settle(loop: asyncio.AbstractEventLoop, conn: LeanProtocol) -> None:
    for _ in range(50):
        loop.run_until_complete(asyncio.sleep(0))
        if conn._task is None:
            return


def _run(loop: asyncio.AbstractEventLoop, pieces: list[bytes]) -> tuple[bytes, bytes, bool]:
    site = _Site(loop)
    conn = LeanProtocol(site)  # type: ignore[arg-type]
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    for piece in pieces:
        if transport.closing:
            break
        if transport.handed is not None:  # handed over: the transport reads into the other protocol
            transport.handed.data_received(piece)
            continue
        conn.data_received(piece)  # must never raise
        _settle(loop, conn)
    if not transport.closing:
        conn.connection_lost(None)
        _settle(loop, conn)
    conn._cancel_timers()
    if conn._linger is not None:
        conn._linger.cancel()
    out = _answers(b"".join(transport.out))
    return out, tuple(_requests(other.received) for other in site.others), transport.closing


class _Answers:
    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.done: list[tuple[int, bytes]] = []
        self._body = b""

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        assert self.parser is not None
        self.done.append((self.parser.get_status_code(), self._body))
        self._body = b""


def _answers(out: bytes) -> tuple[tuple[int, bytes], ...]:
    """What was written, as whole HTTP/1.1 responses (100 Continue lines left out); raises on a
    malformed one. An error's message may name the first fault the split showed, so an error is
    its status (a good answer is its status and body)."""
    out = out.replace(wire.CONTINUE, b"")
    answers = _Answers()
    answers.parser = httptools.HttpResponseParser(answers)
    answers.parser.feed_data(out)
    assert out == b"" or answers.done, out[:300]
    for status, _ in answers.done:
        assert 200 <= status <= 599, status
    return tuple((status, body if status < 400 else b"") for status, body in answers.done)


class _Requests:
    def __init__(self) -> None:
        self.done: list[tuple[bytes, tuple[tuple[bytes, bytes], ...], bytes]] = []
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self._url, tuple(self._headers), self._body))
        self._url, self._headers, self._body = b"", [], b""


def _requests(data: bytes) -> tuple[object, ...]:
    """What aiohttp was given, as whole requests (a relayed body's chunks follow the reads), or
    the raw bytes of a connection handed over whole."""
    if not data.startswith(b"POST ") and b"transfer-encoding: chunked\r\n" not in data:
        return (data,)
    requests = _Requests()
    try:
        httptools.HttpRequestParser(requests).feed_data(data)
    except httptools.HttpParserError:
        pass  # cut where the client's bytes stopped being HTTP: the whole requests before it count
    return tuple(requests.done)


def one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    body, pieces = splits(data)
    loop = asyncio.new_event_loop()
    try:
        split = _run(loop, pieces)
        whole = _run(loop, [body] if body else [])
    finally:
        loop.close()
    assert split == whole, f"the split changed the answers:\n{whole!r}\n{split!r}"


def seeds() -> list[bytes]:
    post = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
    return [
        b"\x00" + post + b"Content-Length: 2\r\n\r\n{}",
        b"\x05" + post + b"Content-Length: 2\r\n\r\n{}" + post + b"Transfer-Encoding: chunked\r\n\r\n1\r\ns\r\n0\r\n\r\n",
        b"\x09" + post + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"\x00" + post + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x00" + post + b"Content-Length: 99999\r\n\r\n",
        b"\x0d" + post + b"Content-Encoding: gzip\r\nContent-Length: 22\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00C\xbf\xa6\xa3\x02\x00\x00\x00",
        b"\x00" + post + b"Content-Length: 2\r\n\r\n{}GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" + post + b"Content-Length: 0\r\n\r\n",
        b"\x00" + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x11" + b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\ns",
    ]


if __name__ == "__main__":
    main("server", one_input, seeds())
