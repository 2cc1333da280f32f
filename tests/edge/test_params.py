"""Field refusals and routing (edge/params.py): a route that cannot honour a field leaves the plan
before any call; the others, or a fallback, answer; drop_params from the config (per model and
global) and from the request, over HTTP and gRPC; refusals are no upstream failures; error
responses name the route that was tried.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from edge.v1 import gateway_pb2_grpc
from tests.edge.grpc.grpc_helpers import GRPC_SERVING, chat, details
from tests.support import Mock, Server, request, write_config

USER = [{"role": "user", "content": "hello there"}]


def _config(mock: Mock, home: Path, routing: str = "") -> Path:
    text = f"""
server: {{host: 127.0.0.1, port: 0, grpc_port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  openai: {{kind: openai, base_url: "{mock.base_url}", timeout_s: 10}}
  anthropic: {{kind: anthropic, base_url: "{mock.url}", timeout_s: 10}}
models:
  mixed: {{route: [{{provider: anthropic, model: echo}}, {{provider: openai, model: echo}}]}}
  claude-first: {{route: [{{provider: anthropic, model: echo}}], fallbacks: [gpt]}}
  gpt: {{route: [{{provider: openai, model: echo}}]}}
  lenient: {{route: [{{provider: anthropic, model: echo}}], drop_params: true}}
  strict: {{route: [{{provider: anthropic, model: echo}}], drop_params: false}}
  failing: {{route: [{{provider: openai, model: error}}]}}
routing:
  retries: 0
{routing}
"""
    return write_config(home / "edge.yaml", text)


@pytest.fixture(scope="module")
def edge(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    home = tmp_path_factory.mktemp("honest-routing")
    server = Server(["serve", "--config", str(_config(mock, home))], cwd=str(home))
    yield server, home
    server.stop()


def _post(server: Server, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, got, data = request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})
    return status, got, json.loads(data)


def _row(home: Path, request_id: str) -> tuple[Any, ...]:
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(home / "edge.db") as db:
            try:
                found = db.execute("SELECT status, attempts, provider, dropped_params FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            except sqlite3.OperationalError:
                found = None
        if found is not None or time.monotonic() > deadline:
            assert found is not None, f"no ledger row for {request_id}"
            return tuple(found)
        time.sleep(0.05)


def test_a_route_that_refuses_leaves_the_plan_and_the_other_answers(edge: tuple[Server, Path], mock: Mock) -> None:
    server, _ = edge
    for _ in range(6):  # weighted: without the check, about half would go to anthropic
        status, headers, body = _post(server, {"model": "mixed", "messages": USER, "logprobs": True})
        assert status == 200, body
        assert headers["x-edge-route"] == "openai/echo" and "x-edge-dropped-params" not in headers
        assert mock.stats()["last_request"]["logprobs"] is True


def test_a_fallback_that_can_honour_the_field_answers(edge: tuple[Server, Path]) -> None:
    server, _ = edge
    status, headers, body = _post(server, {"model": "claude-first", "messages": USER, "seed": 5})
    assert status == 200, body
    assert headers["x-edge-route"] == "openai/echo"
    assert headers["x-edge-fallback-reason"] == "unsupported_parameter seed on anthropic/echo"


def test_drop_params_per_model_and_per_request(edge: tuple[Server, Path], mock: Mock) -> None:
    server, home = edge
    status, headers, body = _post(server, {"model": "lenient", "messages": USER, "seed": 5}, {"x-request-id": "honest-lenient"})
    assert status == 200, body
    assert headers["x-edge-dropped-params"] == "seed" and "seed" not in mock.stats()["last_request"]
    assert _row(home, "honest-lenient") == (200, 1, "anthropic", "seed")
    # drop_params: false on the model; the request's own header still drops.
    status, headers, body = _post(server, {"model": "strict", "messages": USER, "seed": 5})
    assert status == 400 and body["error"]["code"] == "unsupported_parameter"
    status, headers, body = _post(server, {"model": "strict", "messages": USER, "seed": 5}, {"x-edge-drop-params": "true"})
    assert status == 200 and headers["x-edge-dropped-params"] == "seed"


def test_a_refusal_is_recorded_and_is_no_upstream_failure(edge: tuple[Server, Path]) -> None:
    server, home = edge
    for i in range(5):
        status, headers, body = _post(server, {"model": "anthropic/echo", "messages": USER, "logit_bias": {"1": 2}}, {"x-request-id": f"honest-refused-{i}"})
        assert status == 400 and body["error"]["param"] == "logit_bias"
        assert "x-edge-route" not in headers and "x-edge-attempts" not in headers  # no route was tried
    assert _row(home, "honest-refused-4") == (400, 0, None, None)
    _, _, metrics = request("GET", server.url + "/metrics")
    assert not re.search(r'edge_upstream_errors_total\{provider="anthropic"', metrics.decode())
    status, headers, _ = _post(server, {"model": "anthropic/echo", "messages": USER})
    assert status == 200 and headers["x-edge-attempts"] == "1"  # not cooling down


def test_error_responses_name_the_route_that_was_tried(edge: tuple[Server, Path]) -> None:
    server, _ = edge
    status, headers, body = _post(server, {"model": "failing", "messages": USER})
    assert status == 500, body
    assert headers["x-edge-route"] == "openai/error" and headers["x-edge-attempts"] == "1"
    assert headers["x-request-id"]
    status, headers, body = _post(server, {"model": "nope", "messages": USER})
    assert status == 404 and "x-edge-route" not in headers


def test_grpc_refuses_and_drops_alike(edge: tuple[Server, Path]) -> None:
    server, home = edge
    port = int(server.wait_for(GRPC_SERVING).group(2))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ChatComplete(chat(model="anthropic/echo", seed=5), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        error, _ = details(info.value)
        assert error is not None and error.reason == "unsupported_parameter" and error.metadata["param"] == "seed"
        response, call = stub.ChatComplete.with_call(chat(model="anthropic/echo", seed=5), metadata=(("x-edge-drop-params", "true"), ("x-request-id", "honest-grpc")), timeout=10)
        assert response.choices[0].message.content
        assert dict(call.trailing_metadata())["x-edge-dropped-params"] == "seed"
        stream = stub.ChatStream(chat(model="anthropic/echo", seed=5), metadata=(("x-edge-drop-params", "true"),), timeout=10)
        assert "".join(c.content for c in stream) == "hello there gateway"
        assert dict(stream.trailing_metadata())["x-edge-dropped-params"] == "seed"
    assert _row(home, "honest-grpc") == (200, 1, "anthropic", "seed")


def test_drop_params_globally(mock: Mock, tmp_path: Path) -> None:
    server = Server(["serve", "--config", str(_config(mock, tmp_path, "  drop_params: true"))], cwd=str(tmp_path))
    try:
        status, headers, body = _post(server, {"model": "anthropic/echo", "messages": USER, "seed": 5, "store": True})
        assert status == 200 and headers["x-edge-dropped-params"] == "seed, store"
        status, _, body = _post(server, {"model": "strict", "messages": USER, "seed": 5})  # the model says no
        assert status == 400 and body["error"]["param"] == "seed"
    finally:
        server.stop()
