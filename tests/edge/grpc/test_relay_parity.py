"""One relay for every surface: the same broken upstream stream ends the same way over HTTP (a
final error event) and gRPC (an error status), with the same ledger row (issue 12)."""

from __future__ import annotations

import json

import grpc
import pytest

from edge.v1 import chat_pb2
from tests.edge.grpc.grpc_helpers import GrpcGateway, struct
from tests.support import request

ROW = "status, error_type, stream, attempts, estimated, client_disconnected, provider, upstream_model"


def _http_stream(gateway: GrpcGateway, body: dict, request_id: str) -> list[dict]:  # type: ignore[type-arg]
    status, _, data = request("POST", gateway.server.url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json", "x-request-id": request_id})
    assert status == 200, data  # the stream had begun: the failure is in the body
    assert b"data: [DONE]" not in data
    return [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: {")]


@pytest.mark.parametrize(
    ("knobs", "message", "code", "text_before"),
    [
        ({"fail_after": 3}, "broke off the stream", grpc.StatusCode.UNAVAILABLE, True),
        # Right after the role chunk: no text precedes it.
        ({"truncate": True}, "not valid JSON", grpc.StatusCode.UNAVAILABLE, False),
    ],
    ids=["connection-dropped", "cut-mid-event"],
)
def test_a_broken_stream_ends_alike_on_both_surfaces(grpc_gateway: GrpcGateway, knobs: dict, message: str, code: grpc.StatusCode, text_before: bool) -> None:  # type: ignore[type-arg]
    name = next(iter(knobs))
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "one two three four five six"}], "mock": knobs}
    events = _http_stream(grpc_gateway, body, f"relay-http-{name}")
    assert message in events[-1]["error"]["message"] and events[-1]["error"]["code"] == "upstream_stream_error"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events[:-1]) == text_before, "what came before the break reaches the client"

    request_pb = chat_pb2.ChatRequest(model="chat", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="one two three four five six")], extra_body=struct({"mock": knobs}))
    got: list[chat_pb2.ChatChunk] = []
    with pytest.raises(grpc.RpcError) as info:
        for chunk in grpc_gateway.stub.ChatStream(request_pb, metadata=(("x-request-id", f"relay-grpc-{name}"),), timeout=10):
            got.append(chunk)
    assert info.value.code() == code and message in (info.value.details() or "")
    assert bool(got and got[0].content) == text_before, "the deltas before the break were sent"

    http_row, grpc_row = grpc_gateway.ledger(f"relay-http-{name}", ROW), grpc_gateway.ledger(f"relay-grpc-{name}", ROW)
    assert http_row == grpc_row
    assert (http_row["status"], http_row["error_type"], http_row["stream"], http_row["estimated"]) == (502, "api_error", 1, 1)
