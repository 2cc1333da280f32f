"""The floor: a bare aiohttp + uvloop + orjson proxy with no features, the budget's reference.

It does the least an LLM proxy must do: read the JSON body (orjson), pick the upstream by path,
forward the body over a keep-alive pool, and relay the answer (streams chunk by chunk as they
arrive, TCP_NODELAY). No auth, routing, accounting or metrics: whatever llm-edge spends beyond
this is the cost of its features.

    python bench/floor_proxy.py --upstream http://127.0.0.1:9090/v1 [--port 0] [--workers N]

Logs ``serving on http://HOST:PORT (pid N)`` like ``edge serve``. With --workers N it starts
N-1 more copies of itself sharing the port through SO_REUSEPORT (as ``edge serve --workers``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import orjson
import uvloop
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"})


async def forward(request: web.Request) -> web.StreamResponse:
    # Decoding is the one thing every real proxy does (it must read the model to route);
    # re-encoding keeps the upstream body well-formed whatever the client sent.
    body = orjson.dumps(orjson.loads(await request.read()))
    session = request.app[SESSION]
    headers = {"content-type": "application/json"}
    auth = request.headers.get("authorization")
    if auth:
        headers["authorization"] = auth
    upstream = await session.post(request.app[UPSTREAM] + request.path.removeprefix("/v1"), data=body, headers=headers)
    try:
        if upstream.content_type != "text/event-stream":
            data = await upstream.read()
            return web.Response(status=upstream.status, body=data, content_type=upstream.content_type)
        response = web.StreamResponse(status=upstream.status, headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP})
        await response.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        upstream.release()


async def serve(upstream: str, host: str, port: int, reuse_port: bool) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")
    app.router.add_post("/v1/chat/completions", forward)
    app.router.add_post("/v1/embeddings", forward)

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
        app[SESSION] = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))

    async def close(app: web.Application) -> None:
        await app[SESSION].close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=2048)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"serving on http://{host}:{bound} (pid {os.getpid()})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
