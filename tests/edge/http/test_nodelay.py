"""Streams are written with TCP_NODELAY on: aiohttp's server protocol sets it on every accepted
connection (aiohttp.base_protocol.BaseProtocol.connection_made), so the stream sinks no longer
set it again per stream (one setsockopt system call a stream). This pins that behaviour of the
aiohttp the gateway runs on, served as edge.serve serves (AppRunner, TCPSite, reuse_port)."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web


async def _nodelay_seen_by_a_handler() -> int:
    async def handler(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        return web.Response(text=str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, reuse_port=True)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
    finally:
        await runner.cleanup()
    return int(answer.rsplit(b"\r\n\r\n", 1)[1])


def test_every_server_connection_has_tcp_nodelay() -> None:
    assert asyncio.run(_nodelay_seen_by_a_handler()) != 0
