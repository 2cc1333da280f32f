"""The gRPC load generator: N concurrent grpc.aio callers for a fixed time, in its own process.

The request is sent as already-serialized bytes and answers are kept as bytes (no protobuf
decode on the client), so the client costs as little as a Python gRPC client can. Callers share
a few channels, each its own HTTP/2 connection (a local subchannel pool), so a server with
several SO_REUSEPORT workers gets connections on each of them. Runs as a child process (grpc.aio
wants one event loop per process; the runner's own CPU stays out of the figures):

    python bench/loadgen_grpc.py --target HOST:PORT --method /edge.v1.Gateway/ChatComplete \\
        --body FILE --key KEY --connections 32 --duration 4 [--stream] [--probe]

Prints one JSON line: requests, errors, messages (of the completed streams), duration_s,
p50/p90/p99 in microseconds (a stream's latency runs to its last message); with --probe, one call: status, messages, seconds and the
first and last messages (hex).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
_IDENTITY = None  # no serializer: bytes in, bytes out


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def _channels(target: str, count: int) -> list[grpc.aio.Channel]:
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    return [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]


async def _load(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    metadata = (("authorization", "Bearer " + args.key),)
    n_channels = max(1, min(args.connections, args.channels))
    channels = _channels(args.target, n_channels)
    for ch in channels:
        await asyncio.wait_for(ch.channel_ready(), 10)
    if args.stream:
        calls = [ch.unary_stream(args.method, request_serializer=_IDENTITY, response_deserializer=_IDENTITY) for ch in channels]
    else:
        calls = [ch.unary_unary(args.method, request_serializer=_IDENTITY, response_deserializer=_IDENTITY) for ch in channels]
    latencies: list[float] = []
    errors = messages = 0
    start = time.perf_counter()
    deadline = start + args.duration

    async def caller(i: int) -> None:
        nonlocal errors, messages
        call = calls[i % len(calls)]
        clock = time.perf_counter
        while clock() < deadline:
            began = clock()
            got = 0
            try:
                if args.stream:
                    async for _ in call(body, metadata=metadata, timeout=args.timeout):
                        got += 1
                else:
                    await call(body, metadata=metadata, timeout=args.timeout)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            messages += got
            latencies.append((clock() - began) * 1e6)

    await asyncio.gather(*(caller(i) for i in range(args.connections)))
    elapsed = time.perf_counter() - start
    for ch in channels:
        await ch.close()
    latencies.sort()
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "messages": messages,  # stream messages of the completed calls
        "duration_s": elapsed,
        "p50": _percentile(latencies, 50),
        "p90": _percentile(latencies, 90),
        "p99": _percentile(latencies, 99),
    }


async def _probe(args: argparse.Namespace, body: bytes) -> dict[str, object]:
    metadata = (("authorization", "Bearer " + args.key),)
    async with grpc.aio.insecure_channel(args.target) as ch:
        began = time.perf_counter()
        try:
            if args.stream:
                messages = [m async for m in ch.unary_stream(args.method, request_serializer=_IDENTITY, response_deserializer=_IDENTITY)(body, metadata=metadata, timeout=args.timeout)]
            else:
                messages = [await ch.unary_unary(args.method, request_serializer=_IDENTITY, response_deserializer=_IDENTITY)(body, metadata=metadata, timeout=args.timeout)]
        except grpc.aio.AioRpcError as err:
            return {"status": err.code().name, "details": err.details(), "messages": 0, "seconds": time.perf_counter() - began}
        took = time.perf_counter() - began
    return {"status": "OK", "messages": len(messages), "words": _words(messages), "seconds": took, "first": messages[0].hex() if messages else "", "last": messages[-1].hex() if messages else ""}


def _words(messages: list[bytes]) -> int | None:
    """The answer words a stream of ChatChunk messages carried (None for a unary answer or bytes
    that are not ChatChunks): the gateway merges what one upstream read holds into one message,
    so a loaded machine sends fewer messages; the words say whether the whole answer came."""
    from edge.v1 import chat_pb2

    words = 0
    try:
        for raw in messages:
            words += len(chat_pb2.ChatChunk.FromString(raw).content.split())
    except Exception:  # a unary ChatResponse, or a peer's own message type
        return None
    return words


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--method", required=True, help="full method path, e.g. /edge.v1.Gateway/ChatComplete")
    p.add_argument("--body", required=True, help="file with the serialized request message")
    p.add_argument("--key", default="")
    p.add_argument("--connections", type=int, default=32, help="concurrent callers")
    p.add_argument("--channels", type=int, default=8, help="channels (HTTP/2 connections) the callers share (default 8, at most one per caller)")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--probe", action="store_true")
    args = p.parse_args(argv)
    body = Path(args.body).read_bytes()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    out = run((_probe if args.probe else _load)(args, body))
    print(json.dumps(out), flush=True)
    return 0


def run_child(target: str, method: str, body: bytes, key: str, *, connections: int = 1, duration: float = 1.0, stream: bool = False, probe: bool = False, timeout: float = 10.0) -> dict[str, object]:
    """Run this module in a child process and return its JSON answer (what the runner calls)."""
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="edge-bench-grpc-", suffix=".bin") as f:
        f.write(body)
        f.flush()
        argv = [sys.executable, str(HERE / "loadgen_grpc.py"), "--target", target, "--method", method, "--body", f.name, "--key", key]
        argv += ["--connections", str(connections), "--duration", f"{duration:g}", "--timeout", f"{timeout:g}"]
        argv += ["--stream"] if stream else []
        argv += ["--probe"] if probe else []
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"loadgen_grpc failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    sys.exit(main())
