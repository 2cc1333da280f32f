"""edge.grpc.convert: edge.v1 messages <-> the OpenAI-shaped bodies and documents the pipeline uses.

Each request is checked against the exact JSON body an HTTP client would send for the same call;
each structural mistake against the 400 and the field path it must name.
"""

from __future__ import annotations

import base64
import struct

import pytest
from google.protobuf import struct_pb2

from edge.adapters.types import Usage
from edge.errors import InvalidRequest
from edge.grpc.convert import chat_body, chat_response, embed_body, embed_response, finish_reason, struct_to_dict, usage_proto
from edge.v1 import chat_pb2, embeddings_pb2, types_pb2


def _struct(value: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def _user(text: str = "hi") -> chat_pb2.Message:
    return chat_pb2.Message(role=chat_pb2.ROLE_USER, content=text)


def test_a_full_chat_request_becomes_the_http_body() -> None:
    req = chat_pb2.ChatRequest(
        model="smart",
        messages=[
            chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM, content="be brief"),
            chat_pb2.Message(role=chat_pb2.ROLE_USER, parts=[
                chat_pb2.ContentPart(text="what is this?"),
                chat_pb2.ContentPart(image_url=chat_pb2.ImageUrl(url="https://x/cat.png", detail=chat_pb2.IMAGE_DETAIL_LOW)),
                chat_pb2.ContentPart(image=chat_pb2.ImageBytes(data=b"\x89PNG", mime_type="image/png")),
            ]),
            chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[chat_pb2.ToolCall(id="call_1", name="lookup", arguments='{"q":"cat"}')]),
            chat_pb2.Message(role=chat_pb2.ROLE_TOOL, content="a cat", tool_call_id="call_1", name="lookup"),
        ],
        tools=[chat_pb2.Tool(name="lookup", description="find things", parameters=_struct({"type": "object", "properties": {"q": {"type": "string", "maxLength": 40}}}), strict=True)],
        tool_choice=chat_pb2.ToolChoice(function_name="lookup"),
        parallel_tool_calls=False,
        response_format=chat_pb2.ResponseFormat(type=chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, json_schema=chat_pb2.JsonSchema(name="r", schema=_struct({"type": "object"}), strict=True)),
        stop=["\n\n"],
        temperature=0.0,
        max_tokens=64,
        seed=7,
        user="u-1",
        metadata={"workflow": "nightly"},
        reasoning_effort="low",
        extra_body=_struct({"top_k": 5}),
    )
    assert chat_body(req) == {
        "model": "smart",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()}},
            ]},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"cat"}'}}]},
            {"role": "tool", "content": "a cat", "name": "lookup", "tool_call_id": "call_1"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "find things", "parameters": {"type": "object", "properties": {"q": {"type": "string", "maxLength": 40}}}, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True}},
        "stop": ["\n\n"],
        "temperature": 0.0,  # set to zero is still set
        "max_tokens": 64,
        "seed": 7,
        "user": "u-1",
        "metadata": {"workflow": "nightly"},
        "reasoning_effort": "low",
        "top_k": 5,
    }


def test_a_minimal_request_sends_only_what_was_set() -> None:
    assert chat_body(chat_pb2.ChatRequest(model="m", messages=[_user()])) == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    # An assistant turn may be empty (only tool calls, or nothing); an empty content string is content.
    body = chat_body(chat_pb2.ChatRequest(model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT), chat_pb2.Message(role=chat_pb2.ROLE_USER, content="")]))
    assert body["messages"] == [{"role": "assistant"}, {"role": "user", "content": ""}]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(chat_pb2.TOOL_CHOICE_MODE_AUTO, "auto"), (chat_pb2.TOOL_CHOICE_MODE_NONE, "none"), (chat_pb2.TOOL_CHOICE_MODE_REQUIRED, "required")],
)
def test_tool_choice_modes(mode: int, expected: str) -> None:
    assert chat_body(chat_pb2.ChatRequest(model="m", messages=[_user()], tool_choice=chat_pb2.ToolChoice(mode=mode)))["tool_choice"] == expected


@pytest.mark.parametrize(
    ("request_", "param", "says"),
    [
        (chat_pb2.ChatRequest(model="m", messages=[_user(), chat_pb2.Message(content="x")]), "messages[1].role", "must be set"),
        (chat_pb2.ChatRequest(model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="x", parts=[chat_pb2.ContentPart(text="y")])]), "messages[0].content", "both 'content' and 'parts'"),
        (chat_pb2.ChatRequest(model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_SYSTEM)]), "messages[0].content", "needs 'content' or 'parts'"),
        (chat_pb2.ChatRequest(model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, parts=[chat_pb2.ContentPart(text="a"), chat_pb2.ContentPart()])]), "messages[0].parts[1]", "is empty"),
        (chat_pb2.ChatRequest(model="m", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, parts=[chat_pb2.ContentPart(image=chat_pb2.ImageBytes(data=b"x"))])]), "messages[0].parts[0].image.mime_type", "needs a mime_type"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], tool_choice=chat_pb2.ToolChoice()), "tool_choice", "must set a mode"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], response_format=chat_pb2.ResponseFormat()), "response_format.type", "must be TEXT"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], response_format=chat_pb2.ResponseFormat(type=chat_pb2.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)), "response_format.json_schema", "needs json_schema"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], extra_body=_struct({"stream": True})), "extra_body.stream", "may not set 'stream'"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], extra_body=_struct({"stream_options": {}})), "extra_body.stream_options", "may not set"),
        (chat_pb2.ChatRequest(model="m", messages=[_user()], temperature=0.5, extra_body=_struct({"temperature": 1.0})), "extra_body.temperature", "use the typed field"),
    ],
)
def test_structural_mistakes_are_400s_naming_the_field(request_: chat_pb2.ChatRequest, param: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat_body(request_)
    assert info.value.status == 400 and info.value.param == param and says in info.value.message


def test_struct_numbers_that_are_integral_come_back_as_ints() -> None:
    value = struct_to_dict(_struct({"n": 40, "x": 0.5, "big": 2.0**60, "flag": True, "none": None, "list": [1, 2.5, "s", {"deep": 3}]}))
    assert value == {"n": 40, "x": 0.5, "big": 2.0**60, "flag": True, "none": None, "list": [1, 2.5, "s", {"deep": 3}]}
    assert type(value["n"]) is int and type(value["list"][0]) is int and type(value["list"][3]["deep"]) is int
    assert type(value["big"]) is float  # beyond 2**53 a double is not an exact integer: left as it is


def test_embed_requests() -> None:
    assert embed_body(embeddings_pb2.EmbedRequest(model="e", inputs=["a", "b"], dimensions=256, user="u")) == {"model": "e", "input": ["a", "b"], "dimensions": 256, "user": "u"}
    tokens = embeddings_pb2.EmbedRequest(model="e", token_inputs=[embeddings_pb2.TokenIds(ids=[1, 2]), embeddings_pb2.TokenIds(ids=[3])])
    assert embed_body(tokens) == {"model": "e", "input": [[1, 2], [3]]}
    with pytest.raises(InvalidRequest, match="not both") as info:
        embed_body(embeddings_pb2.EmbedRequest(model="e", inputs=["a"], token_inputs=[embeddings_pb2.TokenIds(ids=[1])]))
    assert info.value.param == "input"
    with pytest.raises(InvalidRequest, match="Nothing to embed"):
        embed_body(embeddings_pb2.EmbedRequest(model="e"))
    with pytest.raises(InvalidRequest) as info:
        embed_body(embeddings_pb2.EmbedRequest(model="e", inputs=["a"], extra_body=_struct({"input": "x"})))
    assert info.value.param == "extra_body.input"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, types_pb2.FINISH_REASON_UNSPECIFIED),
        ("stop", types_pb2.FINISH_REASON_STOP),
        ("length", types_pb2.FINISH_REASON_LENGTH),
        ("tool_calls", types_pb2.FINISH_REASON_TOOL_CALLS),
        ("content_filter", types_pb2.FINISH_REASON_CONTENT_FILTER),
        ("function_call", types_pb2.FINISH_REASON_FUNCTION_CALL),
        ("something_new", types_pb2.FINISH_REASON_UNKNOWN),
        (3, types_pb2.FINISH_REASON_UNKNOWN),
    ],
)
def test_finish_reasons(reason: object, expected: int) -> None:
    assert finish_reason(reason) == expected


def test_usage_and_its_total() -> None:
    assert usage_proto(None) is None
    out = usage_proto(Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=4, reasoning_tokens=2, estimated=True))
    assert (out.prompt_tokens, out.completion_tokens, out.total_tokens, out.cached_tokens, out.reasoning_tokens, out.estimated) == (10, 5, 15, 4, 2, True)  # type: ignore[union-attr]


def test_a_chat_completion_document_becomes_a_chat_response() -> None:
    doc = {
        "id": "chatcmpl-1",
        "model": "smart",
        "created": 1735689600,
        "system_fingerprint": "fp_1",
        "choices": [
            {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "let me look", "reasoning_content": "thinking",
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}, "junk", {"id": "x"}]}},
            {"index": 1, "finish_reason": "stop", "message": {"role": "assistant", "content": None, "refusal": "no"}},
            "not a choice",
        ],
    }
    route = types_pb2.Route(provider="up", model="echo", attempts=2, fallback_reason="503 on up/x")
    out = chat_response(doc, Usage(prompt_tokens=3, completion_tokens=4), route, 0.25, "req-1")
    assert (out.id, out.model, out.created, out.system_fingerprint, out.request_id, out.cost_usd) == ("chatcmpl-1", "smart", 1735689600, "fp_1", "req-1", 0.25)
    assert out.route == route and out.usage.total_tokens == 7
    assert len(out.choices) == 2
    first, second = out.choices
    assert first.finish_reason == types_pb2.FINISH_REASON_TOOL_CALLS and first.message.role == chat_pb2.ROLE_ASSISTANT
    assert first.message.content == "let me look" and first.message.reasoning == "thinking"
    assert [(c.id, c.name, c.arguments) for c in first.message.tool_calls] == [("call_1", "lookup", "{}")]
    assert (second.index, second.message.HasField("content"), second.message.refusal) == (1, False, "no")


def test_odd_values_in_a_document_become_defaults_not_errors() -> None:
    doc = {"id": 5, "model": None, "created": True, "choices": [{"index": -1, "message": "text"}, {"index": 2**40}]}
    out = chat_response(doc, None, types_pb2.Route(), None, "req-2")
    assert (out.id, out.model, out.created) == ("", "", 0)
    assert not out.HasField("usage") and not out.HasField("cost_usd")
    assert [c.index for c in out.choices] == [0, 0]  # out of uint32 range: 0, not a crash


def test_an_embeddings_document_becomes_an_embed_response() -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    doc = {"model": "e", "data": [{"index": 0, "embedding": [0.25, 0.75]}, {"index": 1, "embedding": packed}, "junk"]}
    out = embed_response(doc, Usage(prompt_tokens=6), types_pb2.Route(provider="up", model="embed"), None, "req-3")
    assert out.model == "e" and out.request_id == "req-3" and out.usage.prompt_tokens == 6 and not out.HasField("cost_usd")
    assert [list(row.values) for row in out.data] == [[0.25, 0.75], [0.5, -1.0, 2.0]]  # base64 float32 decoded
    assert [row.index for row in out.data] == [0, 1]
