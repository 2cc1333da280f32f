"""The gRPC floor: an empty grpc.aio servicer of edge.v1.Gateway on uvloop, the gRPC budget's reference.

Same proto and the same request bytes as the gateway's gRPC surface, no features: ChatComplete
answers a prebuilt ChatResponse without looking at the request, ChatStream sends prebuilt
ChatChunk messages (as many as the request's ``extra_body.mock.tokens``, default 20), waiting
``extra_body.mock.chunk_delay_ms`` between them as the mock upstream does for the gateway, so a
paced stream costs the floor the same number of timer wake-ups and writes. Whatever the gateway
spends beyond this is the cost of its features (auth, routing, the upstream HTTP call,
accounting, the ledger).

With ``--relay URL`` it is the relay floor (system ``grpc_relay``): the same answers, but each
call first makes the upstream call the gateway would (POST URL, the mock's knobs from
``extra_body``, through edge.client, the gateway's own upstream client), and ChatStream writes
one prebuilt ChatChunk per upstream read. No decoding, auth, routing or accounting: what the
gateway spends beyond this is its features, not the cost of relaying an upstream at all.

    python bench/grpc_floor.py [--host 127.0.0.1] [--port 0] [--workers N] [--relay URL]

Logs ``grpc serving on HOST:PORT (pid N)`` like ``edge serve --grpc-port``. With --workers N it
starts N-1 more copies of itself on the same port (grpc enables SO_REUSEPORT by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import uvloop

from edge.v1 import chat_pb2, gateway_pb2_grpc, types_pb2

_WORDS = "The quick brown fox jumps over the lazy dog.".split()
_TEXT = " ".join(_WORDS[i % len(_WORDS)] for i in range(20))
_RESPONSE = chat_pb2.ChatResponse(
    id="chatcmpl-floor",
    model="echo",
    created=1,
    choices=[chat_pb2.Choice(index=0, message=chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, content=_TEXT), finish_reason=types_pb2.FINISH_REASON_STOP)],
    usage=types_pb2.Usage(prompt_tokens=60, completion_tokens=20, total_tokens=80),
)
_CHUNKS = [chat_pb2.ChatChunk(content=_WORDS[i % len(_WORDS)] + " ") for i in range(200)]


def _knobs(request: chat_pb2.ChatRequest) -> tuple[int, float]:
    mock: Any = request.extra_body.fields.get("mock") if request.HasField("extra_body") else None
    if mock is None:
        return 20, 0.0
    fields = mock.struct_value.fields
    tokens = int(fields["tokens"].number_value) if "tokens" in fields else 20
    delay = fields["chunk_delay_ms"].number_value if "chunk_delay_ms" in fields else 0.0
    return max(1, min(tokens, len(_CHUNKS))), delay / 1000.0


def _upstream_body(request: chat_pb2.ChatRequest, stream: bool) -> bytes:
    count, delay = _knobs(request)
    body = {"model": "echo", "stream": stream, "messages": [{"role": "user", "content": "relay"}], "mock": {"tokens": count, "chunk_delay_ms": delay * 1000.0}}
    return json.dumps(body, separators=(",", ":")).encode()


class RelayGateway(gateway_pb2_grpc.GatewayServicer):
    """The relay floor: one upstream call per gRPC call, one message per upstream read."""

    def __init__(self, url: str) -> None:
        from edge.client import Client

        self.url = url
        self.client = Client()
        self.headers = {"content-type": "application/json"}

    async def ChatComplete(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> chat_pb2.ChatResponse:  # noqa: N802
        await self.client.request("POST", self.url, self.headers, _upstream_body(request, False), timeout=30)
        return _RESPONSE

    async def ChatStream(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        upstream = await self.client.stream("POST", self.url, self.headers, _upstream_body(request, True), first_byte_s=30, idle_s=30)
        try:
            i = 0
            while await upstream.read_chunk():
                await context.write(_CHUNKS[i % len(_CHUNKS)])
                i += 1
        finally:
            upstream.release()


class FloorGateway(gateway_pb2_grpc.GatewayServicer):
    async def ChatComplete(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> chat_pb2.ChatResponse:  # noqa: N802
        return _RESPONSE

    async def ChatStream(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[chat_pb2.ChatChunk]:  # noqa: N802
        count, delay = _knobs(request)
        for i in range(count):
            if delay and i:
                await asyncio.sleep(delay)
            yield _CHUNKS[i]


async def serve(host: str, port: int, relay: str | None = None) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    gateway_pb2_grpc.add_GatewayServicer_to_server(RelayGateway(relay) if relay else FloorGateway(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"grpc serving on {host}:{bound} (pid {os.getpid()})", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--relay", default=None, metavar="URL", help="relay floor: call this upstream chat URL first (bench/README.md, grpc_relay)")
    args = parser.parse_args()
    children = []
    if args.workers > 1:
        args.port = args.port or _free_port(args.host)
        argv = [sys.executable, __file__, "--host", args.host, "--port", str(args.port)] + (["--relay", args.relay] if args.relay else [])
        children = [subprocess.Popen(argv) for _ in range(args.workers - 1)]
    try:
        uvloop.run(serve(args.host, args.port, args.relay))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
