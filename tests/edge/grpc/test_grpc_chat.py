"""ChatComplete and ChatStream through a real gateway and the mock upstream, with a grpcio client."""

from __future__ import annotations

import json

import pytest

from edge.v1 import chat_pb2, types_pb2
from tests.edge.grpc.grpc_helpers import GrpcGateway, chat, metadata, struct
from tests.support import Mock


def test_unary_answer_usage_route_cost_and_request_id(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    response, call = grpc_gateway.stub.ChatComplete.with_call(chat("hello there gateway"), timeout=10)
    assert response.model == "chat"
    assert response.id.startswith("chatcmpl-")
    [choice] = response.choices
    assert choice.message.role == chat_pb2.ROLE_ASSISTANT
    assert choice.message.content == "hello there gateway"
    assert choice.finish_reason == types_pb2.FINISH_REASON_STOP
    usage = response.usage
    assert usage.completion_tokens == 3 and usage.prompt_tokens > 0 and not usage.estimated
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert (response.route.provider, response.route.model, response.route.attempts) == ("up", "echo", 1)
    # echo is priced at 1.0 / 2.0 USD per 1M tokens in the test config
    assert response.HasField("cost_usd")
    assert response.cost_usd == pytest.approx((usage.prompt_tokens * 1.0 + 3 * 2.0) / 1e6)
    assert response.request_id.startswith("req_")
    assert metadata(call, "x-request-id") == response.request_id
    assert mock.stats()["last_request"]["model"] == "echo"
    row = grpc_gateway.ledger(response.request_id, "surface, endpoint, stream, status, provider, completion_tokens")
    assert tuple(row) == ("grpc", "chat", 0, 200, "up", 3)


def test_callers_request_id_and_tags_reach_the_ledger(grpc_gateway: GrpcGateway) -> None:
    request = chat("tagged call", tags={"team": "search", "env": "test"})
    response = grpc_gateway.stub.ChatComplete(request, metadata=(("x-request-id", "grpc-tags-1"),), timeout=10)
    assert response.request_id == "grpc-tags-1"
    row = grpc_gateway.ledger("grpc-tags-1", "tags")
    assert json.loads(row["tags"]) == {"team": "search", "env": "test"}


def test_stream_deltas_then_one_last_message_with_finish_usage_cost(grpc_gateway: GrpcGateway) -> None:
    # 20 ms between upstream chunks: each arrives in a read of its own and is forwarded at once
    chunks = list(grpc_gateway.stub.ChatStream(chat("one two three four", mock={"chunk_delay_ms": 20}), timeout=10))
    first, last = chunks[0], chunks[-1]
    assert first.request_id.startswith("req_") and first.model == "chat"
    assert (first.route.provider, first.route.model) == ("up", "echo")
    assert all(not c.request_id and not c.HasField("route") for c in chunks[1:])
    assert "".join(c.content for c in chunks) == "one two three four"
    assert len(chunks) >= 5, "deltas are forwarded one by one, not buffered"
    assert last.finish_reason == types_pb2.FINISH_REASON_STOP
    assert last.usage.completion_tokens == 4 and not last.usage.estimated
    assert last.cost_usd == pytest.approx((last.usage.prompt_tokens * 1.0 + 4 * 2.0) / 1e6)
    assert all(not c.HasField("usage") and c.finish_reason == 0 for c in chunks[:-1])
    row = grpc_gateway.ledger(first.request_id, "surface, stream, status, completion_tokens, estimated, ttft_ms")
    assert tuple(row)[:5] == ("grpc", 1, 200, 4, 0) and row["ttft_ms"] > 0


def test_usage_is_estimated_when_the_upstream_counts_nothing(grpc_gateway: GrpcGateway) -> None:
    chunks = list(grpc_gateway.stub.ChatStream(chat("a b c d e f", mock={"no_usage": True}), timeout=10))
    usage = chunks[-1].usage
    assert usage.estimated and usage.completion_tokens > 0 and usage.prompt_tokens > 0


TOOLS = [
    chat_pb2.Tool(
        name="lookup_weather",
        description="Weather for a city",
        parameters=struct({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}),
    )
]


def test_tools_and_tool_choice_reach_upstream_and_calls_come_back(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    request = chat("weather?", model="up/tool", tools=TOOLS, tool_choice=chat_pb2.ToolChoice(function_name="lookup_weather"), parallel_tool_calls=False)
    response = grpc_gateway.stub.ChatComplete(request, timeout=10)
    seen = mock.stats()["last_request"]
    params = seen["tools"][0]["function"]["parameters"]
    assert params["properties"]["days"]["minimum"] == 1 and isinstance(params["properties"]["days"]["minimum"], int)
    assert seen["tool_choice"] == {"type": "function", "function": {"name": "lookup_weather"}}
    assert seen["parallel_tool_calls"] is False
    [choice] = response.choices
    assert choice.finish_reason == types_pb2.FINISH_REASON_TOOL_CALLS
    [call] = choice.message.tool_calls
    assert call.name == "lookup_weather" and call.id
    assert json.loads(call.arguments) == {"city": "Paris", "days": 1}
    assert not choice.message.HasField("content")

    chunks = list(grpc_gateway.stub.ChatStream(chat("weather?", model="up/tool", tools=TOOLS, mock={"tool_calls": 2}), timeout=10))
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            args[delta.index] = args.get(delta.index, "") + delta.arguments
            if delta.name:
                names[delta.index] = delta.name
    assert names == {0: "lookup_weather", 1: "lookup_weather"}
    assert [json.loads(a) for a in args.values()] == [{"city": "Paris", "days": 1}] * 2
    assert chunks[-1].finish_reason == types_pb2.FINISH_REASON_TOOL_CALLS


def test_structured_output_with_a_json_schema(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "count": {"type": "integer"}}, "required": ["city", "count"]}
    fmt = chat_pb2.ResponseFormat(type=chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, json_schema=chat_pb2.JsonSchema(name="answer", schema=struct(schema), strict=True))
    response = grpc_gateway.stub.ChatComplete(chat("answer in json", response_format=fmt), timeout=10)
    assert mock.stats()["last_request"]["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    assert json.loads(response.choices[0].message.content) == {"city": "Paris", "count": 1}


def test_content_parts_become_openai_parts_with_data_urls(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    message = chat_pb2.Message(
        role=chat_pb2.ROLE_USER,
        parts=[
            chat_pb2.ContentPart(text="what is in these"),
            chat_pb2.ContentPart(image=chat_pb2.ImageBytes(data=b"\x89PNG-not-really", mime_type="image/png", detail=chat_pb2.IMAGE_DETAIL_LOW)),
            chat_pb2.ContentPart(image_url=chat_pb2.ImageUrl(url="https://example.com/cat.jpg")),
        ],
    )
    system = chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content="be brief")
    response = grpc_gateway.stub.ChatComplete(chat_pb2.ChatRequest(model="chat", messages=[system, message]), timeout=10)
    assert response.choices[0].message.content == "what is in these"
    seen = mock.stats()["last_request"]["messages"]
    assert seen[0] == {"role": "system", "content": "be brief"}
    assert seen[1]["content"] == [
        {"type": "text", "text": "what is in these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORy1ub3QtcmVhbGx5", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]


def test_sampling_fields_and_extra_body_pass_through(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    request = chat("one two three four five", temperature=0.25, top_p=0.5, seed=7, stop=["END"], max_tokens=2, user="u-1", metadata={"k": "v"}, reasoning_effort="low")
    request.extra_body.CopyFrom(struct({"top_k": 40, "vendor_extension": {"a": [1, 2.5, None, True]}}))
    response = grpc_gateway.stub.ChatComplete(request, timeout=10)
    seen = mock.stats()["last_request"]
    assert (seen["temperature"], seen["top_p"], seen["seed"], seen["stop"], seen["max_tokens"]) == (0.25, 0.5, 7, ["END"], 2)
    assert (seen["user"], seen["metadata"], seen["reasoning_effort"]) == ("u-1", {"k": "v"}, "low")
    assert seen["top_k"] == 40 and isinstance(seen["top_k"], int)
    assert seen["vendor_extension"] == {"a": [1, 2.5, None, True]}
    assert "stream" not in seen and "presence_penalty" not in seen, "unset fields are not sent"
    assert response.choices[0].finish_reason == types_pb2.FINISH_REASON_LENGTH
    assert response.choices[0].message.content == "one two"


def test_assistant_turns_with_tool_calls_and_tool_results(grpc_gateway: GrpcGateway, mock: Mock) -> None:
    messages = [
        chat_pb2.Message(role=chat_pb2.ROLE_USER, content="weather in Paris?"),
        chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[chat_pb2.ToolCall(id="call_1", name="lookup_weather", arguments='{"city":"Paris"}')]),
        chat_pb2.Message(role=chat_pb2.ROLE_TOOL, tool_call_id="call_1", content="sunny"),
    ]
    grpc_gateway.stub.ChatComplete(chat_pb2.ChatRequest(model="chat", messages=messages, tools=TOOLS), timeout=10)
    seen = mock.stats()["last_request"]["messages"]
    assert seen[1] == {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup_weather", "arguments": '{"city":"Paris"}'}}]}
    assert seen[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_many_concurrent_calls_on_one_channel(grpc_gateway: GrpcGateway) -> None:
    futures = [grpc_gateway.stub.ChatComplete.future(chat(f"call {i}"), timeout=10) for i in range(40)]
    assert [f.result().choices[0].message.content for f in futures] == [f"call {i}" for i in range(40)]


def test_no_deadline_is_fine(grpc_gateway: GrpcGateway) -> None:
    assert grpc_gateway.stub.ChatComplete(chat("no deadline")).choices[0].message.content == "no deadline"

