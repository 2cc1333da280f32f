"""examples/grpc_client.py works as documented against a real gateway."""

from __future__ import annotations

import subprocess
import sys

from edge.grpc.codegen import ROOT
from tests.edge.grpc.grpc_helpers import GrpcGateway

EXAMPLE = str(ROOT / "examples" / "grpc_client.py")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, EXAMPLE, *args], capture_output=True, text=True, timeout=30)


def test_example_client_unary_stream_and_error(grpc_gateway: GrpcGateway, keyed_gateway: GrpcGateway) -> None:
    done = _run("--target", grpc_gateway.target, "hello from the example")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello from the example" and "via up/echo" in done.stderr
    done = _run("--target", grpc_gateway.target, "--stream", "streamed words here")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "streamed words here" and "FINISH_REASON_STOP" in done.stderr
    done = _run("--target", keyed_gateway.target, "--key", "sk-wrong", "hi")
    assert done.returncode == 1 and "UNAUTHENTICATED" in done.stderr and "reason=invalid_api_key" in done.stderr
