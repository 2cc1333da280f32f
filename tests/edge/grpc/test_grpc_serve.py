"""`edge serve --grpc-port`: every worker serves gRPC on one shared port (SO_REUSEPORT); drain."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import grpc

from edge.v1 import gateway_pb2_grpc
from tests.edge.grpc.grpc_helpers import GrpcGateway, chat
from tests.support import Mock, Server, gateway_config, wait_for, write_config

GRPC_LINE = re.compile(r"grpc serving on [\d.]+:(\d+) \(pid (\d+)\)")


def test_workers_share_the_grpc_port(tmp_path: Path, mock: Mock) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(path), "--workers", "2", "--grpc-port", "0"], cwd=str(tmp_path))
    try:
        pids = lambda: {m.group(2) for m in map(GRPC_LINE.search, server.lines) if m}  # noqa: E731
        wait_for(lambda: len(pids()) == 2, 15, what="two workers serving gRPC")
        found = [m for m in map(GRPC_LINE.search, server.lines) if m]
        ports = {m.group(1) for m in found}
        assert len(ports) == 1, f"workers bound different ports: {ports}"
        target = f"127.0.0.1:{ports.pop()}"
        for i in range(6):  # new connections: the kernel spreads them over the workers
            with grpc.insecure_channel(target) as channel:
                stub = gateway_pb2_grpc.GatewayStub(channel)
                assert stub.ChatComplete(chat(f"worker call {i}"), timeout=10).choices[0].message.content == f"worker call {i}"
    finally:
        assert server.stop() == 0


def test_sigterm_lets_an_inflight_stream_finish(tmp_path: Path, mock: Mock) -> None:
    path = write_config(tmp_path / "edge.yaml", gateway_config(mock.base_url, tmp_path))
    server = Server(["serve", "--config", str(path), "--grpc-port", "0"], cwd=str(tmp_path))
    gateway = GrpcGateway(server, tmp_path)
    try:
        stream = gateway.stub.ChatStream(chat(mock={"tokens": 30, "chunk_delay_ms": 30}), timeout=20)
        chunks = [next(stream)]
        server.popen.send_signal(signal.SIGTERM)
        chunks.extend(stream)
        assert chunks[-1].usage.completion_tokens == 30, "the stream was cut by the drain"
        assert server.popen.wait(10) == 0
    finally:
        gateway.close()
        server.stop()
