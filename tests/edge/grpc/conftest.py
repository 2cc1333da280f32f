"""Fixtures for the gRPC surface: a real gateway process with --grpc-port 0 in front of the mock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.grpc.grpc_helpers import GrpcGateway
from tests.support import Mock, Server, gateway_config, write_config


@pytest.fixture(scope="session")
def grpc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge-grpc-home")


# Routing scenarios beside the default models: a fallback stage and an escalating model.
ROUTED_MODELS = """  p429: {route: [{provider: up, model: p429}], fallbacks: [backup]}
  backup: {route: [{provider: up, model: back}]}
  cheap: {route: [{provider: up, model: cheap}]}
  strong: {route: [{provider: up, model: strong}]}
  support-bot:
    escalate: {from: cheap, to: strong, when: [invalid_json, truncated, refusal, empty]}
"""


@pytest.fixture(scope="session")
def grpc_gateway(mock: Mock, grpc_home: Path) -> Iterator[GrpcGateway]:
    """One gateway serving HTTP and gRPC (one worker), no gateway keys."""
    text = gateway_config(mock.base_url, grpc_home).replace("models:\n", "models:\n" + ROUTED_MODELS, 1)
    path = write_config(grpc_home / "edge.yaml", text)
    server = Server(["serve", "--config", str(path), "--grpc-port", "0"], cwd=str(grpc_home))
    gateway = GrpcGateway(server, grpc_home)
    yield gateway
    gateway.close()
    assert server.stop() == 0
    assert "sk-upstream-secret" not in server.output
    assert "Traceback" not in server.output, server.output


@pytest.fixture(scope="session")
def keyed_gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcGateway]:
    """A gateway that requires a gateway key (keys.admin)."""
    home = tmp_path_factory.mktemp("edge-grpc-keyed")
    path = write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra="keys:\n  admin: sk-edge-admin-0123456789\n"))
    server = Server(["serve", "--config", str(path), "--grpc-port", "0"], cwd=str(home))
    gateway = GrpcGateway(server, home)
    yield gateway
    gateway.close()
    assert server.stop() == 0
    assert "sk-edge-admin-0123456789" not in server.output
