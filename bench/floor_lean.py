"""The lean floor: an asyncio protocol with httptools parsing and edge.client upstream, no features.

What the same proxy costs without a web framework: the request line and headers are parsed by
httptools (llhttp, as aiohttp's C parser), the JSON body is decoded and re-encoded with orjson
(every real proxy must read the model to route), the upstream call goes through edge.client's
keep-alive pool, and the answer is written straight to the transport: a whole body with its
content-length, a stream as chunked transfer coding, one chunk per upstream read (TCP_NODELAY).
Keep-alive and pipelining in order; nothing else (no routing, auth, accounting, metrics,
timeouts beyond the upstream's, or header caps). The gap between this and the aiohttp floor
(bench/floor_proxy.py) is what a web framework costs; between this and llm-edge, its features.

    python bench/floor_lean.py --upstream http://127.0.0.1:9090/v1 [--port 0] [--workers N]

Logs ``serving on http://HOST:PORT (pid N)`` like ``edge serve``; --workers N starts N-1 more
copies of itself sharing the port through SO_REUSEPORT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import httptools
import orjson
import uvloop

from edge.client import Client
from edge.client.response import Response

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests", 500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable"}
_UPSTREAM_TIMEOUT_S = 60.0


class _Proxy(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, answered in their order."""

    def __init__(self, client: Client, upstream: str) -> None:
        self._client = client
        self._upstream = upstream
        self._parser = httptools.HttpRequestParser(self)
        # Kept: on CPython 3.11 every asyncio.get_running_loop() is a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._auth: bytes | None = None
        self._header_name = b""
        self._body: list[bytes] = []
        self._previous: asyncio.Future[None] | None = None  # the answer before this one is written
        self._writable: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is one in all but name
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks --------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self._auth = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        done: asyncio.Future[None] = self._loop.create_future()
        previous, self._previous = self._previous, done
        path, auth, body = self._url.decode("latin-1"), self._auth, b"".join(self._body)
        self._url, self._auth, self._body = b"", None, []
        self._loop.create_task(self._answer(path, auth, body, previous, done))

    # -- answering ------------------------------------------------------------------------

    async def _answer(self, path: str, auth: bytes | None, body: bytes, previous: asyncio.Future[None] | None, done: asyncio.Future[None]) -> None:
        try:
            try:
                payload = orjson.dumps(orjson.loads(body))
            except orjson.JSONDecodeError:
                await self._after(previous)
                self._write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                return
            headers = {"content-type": "application/json"}
            if auth is not None:
                headers["authorization"] = auth.decode("latin-1")
            url = self._upstream + path.removeprefix("/v1")
            response = await self._client.stream("POST", url, headers, payload, first_byte_s=_UPSTREAM_TIMEOUT_S, idle_s=_UPSTREAM_TIMEOUT_S)
            try:
                await self._after(previous)
                await self._relay(response)
            finally:
                response.release()  # back to the pool (close() would drop the keep-alive connection)
        except Exception:  # the upstream failed: what any proxy answers
            self._write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            if self._transport is not None:
                self._transport.close()
        finally:
            done.set_result(None)

    async def _relay(self, response: Response) -> None:
        status = response.status
        ctype = response.headers.get("content-type", "application/json").encode("latin-1")
        head = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n" % (status, _REASONS.get(status, b"Status"), ctype)
        if not ctype.startswith(b"text/event-stream"):
            data = await response.read()
            self._write(head + b"content-length: %d\r\n\r\n" % len(data) + data)
            return
        self._write(head + b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n")
        while chunk := await response.read_chunk():
            self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if self._writable is not None:
                await self._writable
        self._write(b"0\r\n\r\n")

    async def _after(self, previous: asyncio.Future[None] | None) -> None:
        if previous is not None and not previous.done():
            await previous

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)


async def serve(upstream: str, host: str, port: int, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    client = Client(limit=256, keepalive_s=60)
    server = await loop.create_server(lambda: _Proxy(client, upstream.rstrip("/")), host, port, reuse_port=reuse_port, backlog=2048)
    bound = server.sockets[0].getsockname()[1]
    print(f"serving on http://{host}:{bound} (pid {os.getpid()})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await client.close()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--upstream", required=True, help="OpenAI-format base URL, e.g. http://127.0.0.1:9090/v1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    children = []
    reuse = args.reuse_port
    if args.workers > 1:
        port, reuse = (args.port or _free_port(args.host)), True
        argv = [sys.executable, __file__, "--upstream", args.upstream, "--host", args.host, "--port", str(port), "--reuse-port"]
        children = [subprocess.Popen(argv) for _ in range(args.workers - 1)]
        args.port = port
    try:
        uvloop.run(serve(args.upstream, args.host, args.port, reuse))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
