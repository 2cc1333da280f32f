"""edge.client against real loopback servers: framing, keep-alive, timeouts, limits, failures.

Each test starts an asyncio server on 127.0.0.1 that answers with the exact bytes under test
(a real socket, no mocked transport), so the edge cases of RFC 9112 framing are on the wire.
The client is also checked against the aiohttp mock upstream the gateway tests use.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import zlib
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from edge.adapters.mock import start_mock_server
from edge.client import Client, ConnectError, InvalidResponse, ReadTimeout, ServerDisconnected
from tests.support import async_wait_for

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes], Awaitable[None]]


class Scripted:
    """A loopback server: every request on every connection goes to ``handler``."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                await self.handler(reader, writer, head, body)
                if writer.is_closing():
                    break
        finally:
            self.closed.set()
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture()
async def scripted() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[Scripted, str]]]]:
    started: list[Scripted] = []

    async def start(handler: Handler) -> tuple[Scripted, str]:
        server = Scripted(handler)
        url = await server.start()
        started.append(server)
        return server, url

    yield start
    for server in started:
        await server.stop()


@pytest.fixture()
async def client() -> AsyncIterator[Client]:
    c = Client(limit=4, connect_timeout=2.0, keepalive_s=30.0)
    yield c
    await c.close()
    await asyncio.sleep(0)  # one loop turn, not a timed wait: aborted transports call connection_lost on the next


def answer(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_content_length_body_and_keep_alive_reuse(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        writer.write(answer(b'{"echo":' + body + b"}", extra="x-upstream: one\r\nX-Upstream: two\r\n"))

    server, url = await scripted(handler)
    for i in range(3):
        response = await client.request("POST", url + "/v1/chat/completions?x=1", {"content-type": "application/json"}, b'{"n":%d}' % i, timeout=5)
        assert response.status == 200
        assert response.body == b'{"echo":{"n":%d}}' % i
        # Names are lower-cased; repeated headers are joined (RFC 9110 section 5.3).
        assert response.headers["x-upstream"] == "one, two"
    assert server.connections == 1, "keep-alive: three calls, one connection"
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert f"host: {url.removeprefix('http://')}\r\n" in first
    assert "content-length: 7\r\n" in first and "accept-encoding: gzip, deflate\r\n" in first


async def test_chunked_body_streamed_as_it_arrives(scripted, client: Client) -> None:
    release = asyncio.Event()

    async def handler(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"6\r\ndata: \r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"3\r\nabc\r\n0\r\n\r\n")

    server, url = await scripted(handler)
    response = await client.stream("POST", url + "/s", {}, b"{}", first_byte_s=5, idle_s=5)
    assert response.status == 200 and response.headers["transfer-encoding"] == "chunked"
    assert await response.read_chunk() == b"data: "  # before the rest was even sent
    release.set()
    assert await response.read_chunk() == b"abc"
    assert await response.read_chunk() == b""
    response.release()
    # Read to its end: the connection is reused.
    again = await client.stream("POST", url + "/s", {}, b"{}", first_byte_s=5, idle_s=5)
    assert await again.read() == b"data: abc"
    again.release()
    assert server.connections == 1


async def test_body_until_close_and_connection_close_not_reused(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        # No content-length, no chunked: the body runs to the end of the connection.
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    server, url = await scripted(handler)
    first = await client.request("GET", url + "/a", {}, b"", timeout=5)
    second = await client.request("GET", url + "/a", {}, b"", timeout=5)
    assert first.body == second.body == b"all of it"
    assert server.connections == 2
    assert "content-length" not in server.requests[0].decode().lower(), "a GET without a body sends no content-length"


async def test_gzip_and_both_deflate_flavours_are_decoded(scripted, client: Client) -> None:
    text = b'{"choices":[]}' * 50
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {
        "gzip": gzip.compress(text),
        "deflate": zlib.compress(text),
        "deflate-raw": raw.compress(text) + raw.flush(),
    }

    async def handler(reader, writer, head, body):
        kind = body.decode()
        writer.write(answer(bodies[kind], extra=f"content-encoding: {kind.split('-')[0]}\r\n"))

    _, url = await scripted(handler)
    for kind in bodies:
        response = await client.request("POST", url, {}, kind.encode(), timeout=5)
        assert response.body == text, kind


async def test_bodies_beyond_the_cap_fail_and_a_gzip_bomb_is_not_inflated(scripted) -> None:
    bomb = gzip.compress(b"0" * (8 * 1024 * 1024))  # 8 MiB of zeros in about 8 kB

    async def handler(reader, writer, head, body):
        if body == b"bomb":
            writer.write(answer(bomb, extra="content-encoding: gzip\r\n"))
        else:
            writer.write(answer(b"x" * 300_000))

    _, url = await scripted(handler)
    client = Client(limit=2, max_body_bytes=256 * 1024)
    try:
        for body in (b"big", b"bomb"):
            with pytest.raises(InvalidResponse, match="larger than 262144 bytes"):
                await client.request("POST", url, {}, body, timeout=5)
    finally:
        await client.close()
        await asyncio.sleep(0)  # one loop turn: aborted transports call connection_lost on the next


async def test_interim_1xx_is_skipped(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"{}"))

    _, url = await scripted(handler)
    response = await client.request("POST", url, {}, b"{}", timeout=5)
    assert (response.status, response.body) == (200, b"{}")


async def test_deadline_closes_the_connection(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        await reader.read(1)  # never answers; returns when the client goes away

    server, url = await scripted(handler)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await client.request("POST", url, {}, b"{}", timeout=0.2)
    assert asyncio.get_running_loop().time() - started < 1.0
    # The upstream sees the connection go at once: nobody is waiting for that answer.
    await asyncio.wait_for(server.closed.wait(), 2)
    assert client.pools[0].open == 0


async def test_stream_first_byte_and_idle_bounds(scripted, client: Client) -> None:
    async def silent(reader, writer, head, body):
        if body == b"late":
            await reader.read(1)  # returns when the client goes away
            return
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await writer.drain()
        await reader.read(1)

    _, url = await scripted(silent)
    with pytest.raises(TimeoutError):
        await client.stream("POST", url, {}, b"late", first_byte_s=0.2, idle_s=5)
    response = await client.stream("POST", url, {}, b"now", first_byte_s=2, idle_s=0.3)
    assert await response.read_chunk() == b"hi"
    started = asyncio.get_running_loop().time()
    with pytest.raises(ReadTimeout):
        await response.read_chunk()
    waited = asyncio.get_running_loop().time() - started
    assert 0.2 < waited < 1.5
    response.close()


async def test_slow_reader_is_not_an_idle_upstream_and_back_pressure_holds(scripted, client: Client) -> None:
    piece = b"x" * 65536

    async def handler(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(64):  # 4 MiB
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    _, url = await scripted(handler)
    response = await client.stream("POST", url, {}, b"{}", first_byte_s=2, idle_s=0.3)
    # The slow reader under test: it reads nothing for longer than the idle bound (a pause that
    # is the behaviour, not a wait for something), while the upstream keeps sending.
    await asyncio.sleep(0.6)
    buffered = response._size
    assert buffered < 1024 * 1024, f"{buffered} bytes buffered: reading was not paused"
    total = 0
    while data := await response.read_chunk():
        total += len(data)
    assert total == 64 * 65536
    response.release()


async def test_limit_queues_callers(scripted) -> None:
    active = 0
    peak = 0

    async def handler(reader, writer, head, body):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)  # the upstream's latency: calls overlap, so the limit is what holds them
        active -= 1
        writer.write(answer(b"{}"))

    server, url = await scripted(handler)
    client = Client(limit=2, connect_timeout=2.0)
    try:
        results = await asyncio.gather(*(client.request("POST", url, {}, b"{}", timeout=5) for _ in range(8)))
    finally:
        await client.close()
        await asyncio.sleep(0)  # one loop turn: aborted transports call connection_lost on the next
    assert [r.status for r in results] == [200] * 8
    assert peak == 2 and server.connections == 2


async def test_limit_wait_is_bounded_by_the_deadline(scripted) -> None:
    release = asyncio.Event()

    async def handler(reader, writer, head, body):
        await release.wait()  # holds the only connection until the second caller has given up
        writer.write(answer(b"{}"))

    server, url = await scripted(handler)
    client = Client(limit=1, connect_timeout=2.0)
    try:
        slow = asyncio.ensure_future(client.request("POST", url, {}, b"{}", timeout=5))
        await async_wait_for(lambda: server.requests, what="the first call holding the connection")
        with pytest.raises(TimeoutError):
            await client.request("POST", url, {}, b"{}", timeout=0.2)
        release.set()
        assert (await slow).status == 200
        assert server.connections == 1, "the second call never got a connection of its own"
    finally:
        await client.close()
        await asyncio.sleep(0)  # one loop turn: aborted transports call connection_lost on the next


async def test_server_closing_an_idle_connection_is_noticed(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        writer.write(answer(b"{}"))
        await writer.drain()
        writer.close()  # like a server whose keep-alive timeout ran out, without saying so

    server, url = await scripted(handler)
    assert (await client.request("POST", url, {}, b"{}", timeout=5)).status == 200
    await asyncio.wait_for(server.closed.wait(), 2)
    await async_wait_for(lambda: client.pools[0].open == 0, 2, what="the pool noticed the close")
    assert (await client.request("POST", url, {}, b"{}", timeout=5)).status == 200
    assert server.connections == 2


async def test_cut_body_malformed_response_and_refused_connection(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        if body == b"cut":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
            await writer.drain()
            writer.close()
        else:
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")

    _, url = await scripted(handler)
    with pytest.raises(ServerDisconnected):
        await client.request("POST", url, {}, b"cut", timeout=5)
    with pytest.raises(InvalidResponse):
        await client.request("POST", url, {}, b"junk", timeout=5)
    with pytest.raises(ConnectError):
        await client.request("POST", "http://127.0.0.1:1/v1", {}, b"{}", timeout=5)


async def test_a_second_response_to_one_request_is_ignored_and_the_connection_dropped(scripted, client: Client) -> None:
    # fuzz_client finding: bytes after a complete response (here a whole second response, in
    # the same write or a later one) were parsed into the first response's headers.
    async def handler(reader, writer, head, body):
        writer.write(answer(b"{}") + answer(b"[]", extra="x-second: 1\r\n"))
        await writer.drain()
        if body == b"later":
            writer.write(answer(b"!!"))

    server, url = await scripted(handler)
    for body in (b"same", b"later"):
        response = await client.request("POST", url, {}, body, timeout=5)
        assert (response.status, response.body) == (200, b"{}")
        assert response.headers["content-length"] == "2" and "x-second" not in response.headers
    # a connection that said more than it was asked is dropped, not reused
    await async_wait_for(lambda: client.pools[0].open == 0, 2, what="the connection dropped")
    assert server.connections == 2


async def test_header_injection_refused_before_sending(scripted, client: Client) -> None:
    server, url = await scripted(lambda *a: asyncio.sleep(0))  # a handler that answers nothing
    with pytest.raises(ValueError):
        await client.request("POST", url, {"x-evil": "a\r\nx-smuggled: 1"}, b"{}", timeout=5)
    with pytest.raises(ValueError):
        await client.request("POST", "ftp://example.com/x", {}, b"{}", timeout=5)
    assert server.requests == []


async def test_cancelled_stream_closes_the_upstream(scripted, client: Client) -> None:
    async def handler(reader, writer, head, body):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\n.\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)  # the endless, trickling upstream under test

    server, url = await scripted(handler)
    response = await client.stream("POST", url, {}, b"{}", first_byte_s=2, idle_s=2)
    assert await response.read_chunk()
    response.close()
    await asyncio.wait_for(server.closed.wait(), 2)
    assert client.pools[0].open == 0


async def test_https_upstream_is_verified(tmp_path: Path) -> None:
    """TLS with SNI and certificate checks: an upstream whose certificate the context trusts
    answers; with only the system's CAs, the same self-signed upstream is refused."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def handler(reader, writer, head, body):
        writer.write(answer(b'{"tls":true}'))

    server = Scripted(handler, server_tls)
    url = (await server.start()).replace("127.0.0.1", "localhost")
    trusting = Client(ssl_context=ssl.create_default_context(cafile=str(cert)))
    system = Client()
    try:
        response = await trusting.request("POST", url + "/v1/chat/completions", {}, b"{}", timeout=5)
        assert (response.status, response.body) == (200, b'{"tls":true}')
        assert b"host: localhost:" in server.requests[0]
        with pytest.raises(ConnectError):
            await system.request("POST", url + "/v1/chat/completions", {}, b"{}", timeout=5)
    finally:
        await trusting.close()
        await system.close()
        await server.stop()
        # The server's side of the TLS connection closes once the client's abort reaches it.
        await async_wait_for(server.closed.is_set, 2, what="the TLS connection closed")


async def test_against_the_mock_upstream_whole_and_streamed(client: Client) -> None:
    runner, port = await start_mock_server("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        whole = await client.request("POST", url, {"content-type": "application/json"}, b'{"model":"m","messages":[{"role":"user","content":"hi there"}]}', timeout=5)
        assert whole.status == 200 and b'"chat.completion"' in whole.body
        stream = await client.stream("POST", url, {"content-type": "application/json"}, b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi there"}]}', first_byte_s=5, idle_s=5)
        assert stream.headers["content-type"].startswith("text/event-stream")
        data = await stream.read()
        stream.release()
        assert data.endswith(b"data: [DONE]\n\n") and data.count(b"data: ") >= 3
        assert client.pools[0].open == 1, "both calls on one kept-alive connection"
    finally:
        await client.close()
        await runner.cleanup()
