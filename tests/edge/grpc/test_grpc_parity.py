"""Parity: the same request over HTTP and gRPC gives the same content, usage, route, cost and
ledger row (apart from the request id, timings and the surface column)."""

from __future__ import annotations

import json

import pytest

from edge.v1 import chat_pb2, embeddings_pb2
from tests.edge.grpc.grpc_helpers import GrpcGateway, struct
from tests.support import request

SAME = (
    "key_id, public_model, provider, upstream_model, endpoint, stream, attempts, status, error_type, prompt_tokens, "
    "completion_tokens, cached_tokens, reasoning_tokens, estimated, cost_usd, client_disconnected, tags"
)


def _http(gateway: GrpcGateway, path: str, body: dict, request_id: str) -> tuple[dict[str, str], bytes]:  # type: ignore[type-arg]
    status, headers, data = request("POST", gateway.server.url + path, json.dumps(body).encode(), {"content-type": "application/json", "x-request-id": request_id})
    assert status == 200, data
    return headers, data


def _rows(gateway: GrpcGateway, http_id: str, grpc_id: str) -> None:
    http_row, grpc_row = gateway.ledger(http_id, SAME + ", surface"), gateway.ledger(grpc_id, SAME + ", surface")
    assert (http_row["surface"], grpc_row["surface"]) == ("http", "grpc")
    assert tuple(http_row)[:-1] == tuple(grpc_row)[:-1]


def test_chat_parity(grpc_gateway: GrpcGateway) -> None:
    body = {"model": "chat", "messages": [{"role": "system", "content": "be exact"}, {"role": "user", "content": "parity of both surfaces"}], "temperature": 0.5, "max_tokens": 3}
    headers, data = _http(grpc_gateway, "/v1/chat/completions", body, "parity-http-chat")
    doc = json.loads(data)
    request_pb = chat_pb2.ChatRequest(
        model="chat",
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content="be exact"), chat_pb2.Message(role=chat_pb2.ROLE_USER, content="parity of both surfaces")],
        temperature=0.5,
        max_tokens=3,
    )
    response = grpc_gateway.stub.ChatComplete(request_pb, metadata=(("x-request-id", "parity-grpc-chat"),), timeout=10)
    assert response.choices[0].message.content == doc["choices"][0]["message"]["content"] == "parity of both"
    assert doc["choices"][0]["finish_reason"] == "length" and response.choices[0].finish_reason == 2
    usage = doc["usage"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    assert f"{response.route.provider}/{response.route.model}" == headers["x-edge-route"]
    assert response.cost_usd == pytest.approx(float(headers["x-edge-cost-usd"]))
    assert response.model == doc["model"] == "chat"
    _rows(grpc_gateway, "parity-http-chat", "parity-grpc-chat")


def test_stream_parity(grpc_gateway: GrpcGateway) -> None:
    body = {"model": "chat", "stream": True, "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "the same words either way"}]}
    _, data = _http(grpc_gateway, "/v1/chat/completions", body, "parity-http-stream")
    events = [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    usage = events[-1]["usage"]
    chunks = list(grpc_gateway.stub.ChatStream(chat_pb2.ChatRequest(model="chat", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="the same words either way")]), metadata=(("x-request-id", "parity-grpc-stream"),), timeout=10))
    assert "".join(c.content for c in chunks) == text == "the same words either way"
    last = chunks[-1].usage
    assert (last.prompt_tokens, last.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    _rows(grpc_gateway, "parity-http-stream", "parity-grpc-stream")


def test_tool_call_parity(grpc_gateway: GrpcGateway) -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}
    body = {"model": "up/tool", "messages": [{"role": "user", "content": "weather?"}], "tools": [{"type": "function", "function": {"name": "lookup_weather", "parameters": params}}]}
    _, data = _http(grpc_gateway, "/v1/chat/completions", body, "parity-http-tool")
    http_call = json.loads(data)["choices"][0]["message"]["tool_calls"][0]
    request_pb = chat_pb2.ChatRequest(model="up/tool", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="weather?")], tools=[chat_pb2.Tool(name="lookup_weather", parameters=struct(params))])
    grpc_call = grpc_gateway.stub.ChatComplete(request_pb, metadata=(("x-request-id", "parity-grpc-tool"),), timeout=10).choices[0].message.tool_calls[0]
    assert (grpc_call.name, json.loads(grpc_call.arguments)) == (http_call["function"]["name"], json.loads(http_call["function"]["arguments"]))
    _rows(grpc_gateway, "parity-http-tool", "parity-grpc-tool")


def test_embeddings_parity(grpc_gateway: GrpcGateway) -> None:
    _, data = _http(grpc_gateway, "/v1/embeddings", {"model": "embed", "input": ["first text", "second one here"]}, "parity-http-embed")
    doc = json.loads(data)
    response = grpc_gateway.stub.Embed(embeddings_pb2.EmbedRequest(model="embed", inputs=["first text", "second one here"]), metadata=(("x-request-id", "parity-grpc-embed"),), timeout=10)
    assert [d.index for d in response.data] == [d["index"] for d in doc["data"]] == [0, 1]
    for got, want in zip(response.data, doc["data"]):
        assert list(got.values) == pytest.approx(want["embedding"], abs=1e-6)
    assert response.usage.prompt_tokens == doc["usage"]["prompt_tokens"]
    assert response.model == doc["model"] == "embed"
    _rows(grpc_gateway, "parity-http-embed", "parity-grpc-embed")


def _route_headers(headers: dict[str, str]) -> tuple[str, str, str]:
    return headers["x-edge-route"], headers["x-edge-attempts"], headers.get("x-edge-fallback-reason", "")


def _route(response: chat_pb2.ChatResponse) -> tuple[str, str, str]:
    r = response.route
    return f"{r.provider}/{r.model}", str(r.attempts), r.fallback_reason


def test_fallback_parity(grpc_gateway: GrpcGateway) -> None:
    knobs = {"by_model": {"p429": {"status": 429}}}
    headers, _ = _http(grpc_gateway, "/v1/chat/completions", {"model": "p429", "messages": [{"role": "user", "content": "fall back"}], "mock": knobs}, "parity-http-fallback")
    request_pb = chat_pb2.ChatRequest(model="p429", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="fall back")], extra_body=struct({"mock": knobs}))
    response = grpc_gateway.stub.ChatComplete(request_pb, metadata=(("x-request-id", "parity-grpc-fallback"),), timeout=10)
    assert _route(response) == _route_headers(headers) == ("up/back", "2", "429 on up/p429")
    _rows(grpc_gateway, "parity-http-fallback", "parity-grpc-fallback")


def test_escalation_parity(grpc_gateway: GrpcGateway) -> None:
    knobs = {"by_model": {"cheap": {"tokens": 0}}}
    headers, data = _http(grpc_gateway, "/v1/chat/completions", {"model": "support-bot", "messages": [{"role": "user", "content": "answer me well"}], "mock": knobs}, "parity-http-escalate")
    doc = json.loads(data)
    request_pb = chat_pb2.ChatRequest(model="support-bot", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="answer me well")], extra_body=struct({"mock": knobs}))
    response = grpc_gateway.stub.ChatComplete(request_pb, metadata=(("x-request-id", "parity-grpc-escalate"),), timeout=10)
    assert _route(response) == _route_headers(headers) == ("up/strong", "2", "escalated: empty")
    assert response.choices[0].message.content == doc["choices"][0]["message"]["content"] == "answer me well"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (doc["usage"]["prompt_tokens"], doc["usage"]["completion_tokens"])
    _rows(grpc_gateway, "parity-http-escalate", "parity-grpc-escalate")

    # A stream of an escalating model is checked only when the caller asks to buffer it.
    sent = (("x-edge-buffer", "true"), ("x-request-id", "parity-grpc-escalate-stream"))
    chunks = list(grpc_gateway.stub.ChatStream(request_pb, metadata=sent, timeout=10))
    assert "".join(c.content for c in chunks) == "answer me well"
    assert chunks[0].route.fallback_reason == "escalated: empty" and chunks[-1].usage.prompt_tokens == response.usage.prompt_tokens
    assert grpc_gateway.ledger("parity-grpc-escalate-stream", "status, stream")["stream"] == 1
