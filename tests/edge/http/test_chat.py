"""Chat completions through a real gateway and a real mock upstream, driven by the openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.support import Mock, Server


@pytest.fixture()
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="any-key", max_retries=0) as client:
        yield client


@pytest.fixture()
def aclient(gateway: Server) -> openai.AsyncOpenAI:
    # Each test closes it on its own loop (await aclient.close()).
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="any-key", max_retries=0)


def test_chat_plain_shows_public_model_usage_and_request_id(client: openai.OpenAI, mock: Mock) -> None:
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "hello there gateway"}])
    completion = raw.parse()
    assert completion.model == "chat"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "hello there gateway"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-edge-route"] == "up/echo"
    # echo is priced at 1.0 / 2.0 USD per 1M tokens in the test config
    expected = (completion.usage.prompt_tokens * 1.0 + 3 * 2.0) / 1e6
    assert float(raw.headers["x-edge-cost-usd"]) == pytest.approx(expected)
    seen = mock.stats()["last_request"]
    assert seen["model"] == "echo"  # the upstream gets its own model name


def test_passthrough_name_routes_to_provider(client: openai.OpenAI, mock: Mock) -> None:
    completion = client.chat.completions.create(model="up/echo", messages=[{"role": "user", "content": "direct"}])
    assert completion.model == "up/echo"
    assert completion.choices[0].message.content == "direct"
    assert mock.stats()["last_request"]["model"] == "echo"


def test_unknown_fields_pass_through_unchanged(client: openai.OpenAI, mock: Mock) -> None:
    client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"vendor_extension": {"a": [1, 2, {"b": None}]}, "top_k": 40},
        temperature=0.25,
        seed=7,
    )
    seen = mock.stats()["last_request"]
    assert seen["vendor_extension"] == {"a": [1, 2, {"b": None}]}
    assert seen["top_k"] == 40
    assert seen["temperature"] == 0.25 and seen["seed"] == 7


async def test_async_client_chat(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(model="chat", messages=[{"role": "user", "content": "async works"}])
    assert completion.choices[0].message.content == "async works"
    await aclient.close()


def _collect(stream: openai.Stream) -> list:  # type: ignore[type-arg]
    return list(stream)


def test_stream_without_include_usage(client: openai.OpenAI, mock: Mock) -> None:
    chunks = _collect(client.chat.completions.create(model="chat", stream=True, messages=[{"role": "user", "content": "one two three four"}]))
    assert chunks, "no chunks"
    assert all(c.model == "chat" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks), "a usage-only chunk leaked to a client that did not ask"
    # ... but the gateway asked the upstream for usage anyway, for its accounting
    assert mock.stats()["last_request"]["stream_options"] == {"include_usage": True}


def test_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = _collect(
        client.chat.completions.create(
            model="chat", stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "a b c"}]
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == 3
    assert last.usage.total_tokens == last.usage.prompt_tokens + 3


async def test_async_stream(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="chat", stream=True, messages=[{"role": "user", "content": "x y"}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "x y"
    await aclient.close()


def test_tool_calls_pass_through(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "lookup_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}]
    completion = client.chat.completions.create(model="up/tool", tools=tools, messages=[{"role": "user", "content": "weather?"}])
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 1}

    chunks = _collect(client.chat.completions.create(model="up/tool", tools=tools, stream=True, extra_body={"mock": {"tool_calls": 2}}, messages=[{"role": "user", "content": "weather?"}]))
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args[delta.index] = args.get(delta.index, "") + (delta.function.arguments or "")
            if delta.function.name:
                names[delta.index] = delta.function.name
    assert names == {0: "lookup_weather", 1: "lookup_weather"}
    assert [json.loads(a) for a in args.values()] == [{"city": "Paris", "days": 1}] * 2
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_json_output_passes_through(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number"}}, "required": ["answer", "score"]}
    completion = client.chat.completions.create(
        model="up/json",
        response_format={"type": "json_schema", "json_schema": {"name": "result", "schema": schema, "strict": True}},
        messages=[{"role": "user", "content": "rate it"}],
    )
    assert json.loads(completion.choices[0].message.content) == {"answer": "Paris", "score": 1.5}


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="embed", input=["alpha beta", "gamma"])
    assert result.model == "embed"
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens == 3
    again = client.embeddings.create(model="embed", input="alpha beta", dimensions=4)
    assert again.data[0].embedding == result.data[0].embedding[:4]


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"chat", "failover", "embed", "up/echo", "up/tool"} <= set(ids)
    model = client.models.retrieve("up/echo")
    assert model.id == "up/echo" and model.owned_by == "up"
    assert client.models.retrieve("chat").owned_by == "llm-edge"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope/nothing")
    assert info.value.code == "model_not_found"


def test_failover_to_next_route_when_first_is_unreachable(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="failover", messages=[{"role": "user", "content": "still here"}])
    assert raw.parse().choices[0].message.content == "still here"
    assert raw.headers["x-edge-route"] == "up/echo"


def test_stream_from_server_that_rejects_stream_options(client: openai.OpenAI, mock: Mock) -> None:
    chunks = _collect(
        client.chat.completions.create(
            model="chat", stream=True, stream_options={"include_usage": True}, messages=[{"role": "user", "content": "strict server"}],
            extra_body={"mock": {"reject_stream_options": True}},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "strict server"
    assert "stream_options" not in mock.stats()["last_request"]
