"""The Responses API end to end: a real gateway in front of the real mock, driven by the official
openai SDK (responses.create, .stream, .parse, retrieve, delete, input_items.list), for every
provider kind: an OpenAI-format server that speaks Responses (``responses: native``), one that
speaks only chat (``responses: bridge``), Anthropic, Gemini and Ollama (bridged through their
chat translations), and the embedded mock kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pydantic
import pytest

from tests.support import Mock, Server, request, write_config

KINDS = ("native", "chat", "anthropic", "gemini", "ollama", "mock")
BRIDGED = ("chat", "anthropic", "gemini", "ollama")
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def gateway(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("responses")
    config = f"""
server: {{host: 127.0.0.1, port: 0}}
state: {{ledger: "sqlite:///{home}/edge.db", ledger_flush_s: 0.05}}
routing: {{retries: 0, cooldown: {{consecutive_failures: 0, failure_percent: 0}}}}
providers:
  native: {{kind: openai, base_url: "{mock.base_url}", responses: native, timeout_s: 10}}
  chat: {{kind: openai, base_url: "{mock.base_url}", responses: bridge, timeout_s: 10}}
  anthropic: {{kind: anthropic, base_url: "{mock.url}", api_key: sk-ant-secret-0123456789, timeout_s: 10}}
  gemini: {{kind: gemini, base_url: "{mock.url}", api_key: gm-secret-0123456789, timeout_s: 10}}
  ollama: {{kind: ollama, base_url: "{mock.url}", timeout_s: 10}}
  mock: {{kind: mock}}
models:
  smart:
    route:
      - {{provider: chat, model: echo}}
prices:
  echo: {{input: 1.0, output: 2.0}}
"""
    proc = Server(["serve", "--config", str(write_config(home / "edge.yaml", config))], cwd=str(home))
    yield proc
    proc.stop()
    assert "secret-0123456789" not in proc.output


@pytest.fixture()
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0) as c:
        yield c


@pytest.mark.parametrize("kind", KINDS)
def test_create_retrieve_list_delete(client: openai.OpenAI, kind: str) -> None:
    created = client.responses.create(model=f"{kind}/echo", input="alpha beta gamma", instructions="Be brief.")
    assert created.output_text == "alpha beta gamma"
    assert created.status == "completed" and created.model == f"{kind}/echo"
    assert created.id.startswith("resp_")
    [message] = [item for item in created.output if item.type == "message"]
    assert message.id.startswith("msg_") and message.content[0].type == "output_text"
    usage = created.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0

    again = client.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == created.output_text
    items = client.responses.input_items.list(created.id)
    [item] = items.data
    assert item.type == "message" and item.role == "user" and item.content[0].text == "alpha beta gamma"

    deleted = client.responses.delete(created.id)
    assert deleted is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


@pytest.mark.parametrize("kind", KINDS)
def test_stream_follows_the_documented_sequence(client: openai.OpenAI, kind: str) -> None:
    with client.responses.stream(model=f"{kind}/echo", input="one two three four", reasoning={"effort": "low"}) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0  # strictly increasing from 0
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "one two three four" == final.output_text
    for opened, closed in (("response.output_item.added", "response.output_item.done"), ("response.content_part.added", "response.content_part.done"), ("response.output_text.delta", "response.output_text.done")):
        assert opened in types and closed in types and types.index(opened) < types.index(closed)
    usage = final.usage
    assert usage is not None and usage.input_tokens_details is not None and usage.output_tokens_details is not None
    # The chat and Ollama mocks do not think on reasoning_effort; the others send a summary.
    if kind not in ("chat", "ollama"):
        [reasoning] = [item for item in final.output if item.type == "reasoning"]
        assert reasoning.id.startswith("rs_") and reasoning.summary[0].text == "Thinking about the question."
        assert types.index("response.reasoning_summary_text.delta") < types.index("response.output_text.delta")
        if kind in ("anthropic", "native", "mock"):
            assert reasoning.encrypted_content  # the provider's signature, carried for the next turn
    assert client.responses.retrieve(final.id).output_text == final.output_text


@pytest.mark.parametrize("kind", KINDS)
def test_tool_loop_of_two_turns(client: openai.OpenAI, kind: str) -> None:
    first = client.responses.create(model=f"{kind}/tool", input="What is the weather in Paris?", tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.id.startswith("fc_") and call.call_id and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    # Turn 2 sends only the tool's output: the gateway replays the stored first turn.
    second = client.responses.create(
        model=f"{kind}/echo" if kind in BRIDGED else f"{kind}/tool",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 19}'}],
        tools=[WEATHER],
    )
    assert second.output_text and not [i for i in second.output if i.type == "function_call"]
    listed = client.responses.input_items.list(second.id, order="asc")
    kinds = [item.type for item in listed.data]
    assert kinds == ["message", "function_call", "function_call_output"]


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_tool_call(client: openai.OpenAI, kind: str) -> None:
    with client.responses.stream(model=f"{kind}/tool", input="weather in Paris", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(args) == json.loads(done.arguments) == {"city": "Paris"}
    [call] = [i for i in final.output if i.type == "function_call"]
    assert call.id.startswith("fc_") and call.call_id


class City(pydantic.BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("kind", KINDS)
def test_parse_into_a_pydantic_model(client: openai.OpenAI, kind: str) -> None:
    parsed = client.responses.parse(model=f"{kind}/json", input="Name a big city.", text_format=City)
    assert isinstance(parsed.output_parsed, City)
    assert parsed.output_parsed.population == 1


@pytest.mark.parametrize("kind", ("native", "chat", "anthropic"))
def test_store_false_keeps_nothing(client: openai.OpenAI, kind: str) -> None:
    created = client.responses.create(model=f"{kind}/echo", input="secret words", store=False)
    assert created.output_text == "secret words"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    # Nothing to continue from: bridged, the gateway says so; native, the upstream does (the
    # gateway forwards an id it does not know to a server that may have its own store).
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=f"{kind}/echo", input="more", previous_response_id=created.id)
    assert "not found" in info.value.message and info.value.body["param"] == "previous_response_id"  # type: ignore[index]


@pytest.mark.parametrize("kind", BRIDGED)
def test_builtin_tools_are_refused_by_name(client: openai.OpenAI, mock: Mock, kind: str) -> None:
    before = mock.stats()["requests"]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=f"{kind}/echo", input="news today?", tools=[{"type": "web_search"}])
    message = info.value.message
    assert "web_search" in message and f"'{kind}'" in message
    assert info.value.body["param"] == "tools[0]"  # type: ignore[index]
    assert mock.stats()["requests"] == before  # nothing was sent


def test_builtin_tools_reach_a_native_server(client: openai.OpenAI, mock: Mock) -> None:
    answer = client.responses.create(model="native/echo", input="news today?", tools=[{"type": "web_search"}])
    assert answer.output_text == "news today?"  # the mock accepts the tool as OpenAI does, never calls it
    assert mock.stats()["last_request"]["tools"] == [{"type": "web_search"}]


def test_native_forwards_unknown_fields_and_rewrites_only_the_model(client: openai.OpenAI, mock: Mock) -> None:
    created = client.responses.create(model="native/echo", input="hi there", extra_body={"prompt_cache_key": "abc", "vendor_field": {"x": 1}})
    seen = mock.stats()["last_request"]
    assert seen["model"] == "echo" and seen["vendor_field"] == {"x": 1} and seen["prompt_cache_key"] == "abc"
    assert created.model == "native/echo"


@pytest.mark.parametrize("kind", ("chat", "anthropic", "native"))
def test_failure_mid_stream_ends_with_error_and_response_failed(gateway: Server, kind: str) -> None:
    body = json.dumps({"model": f"{kind}/echo", "input": "a b c d e f", "stream": True, "mock": {"fail_after": 4} if kind != "native" else {"error_mid_stream": True}}).encode()
    status, headers, data = request("POST", gateway.url + "/v1/responses", body, {"content-type": "application/json"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-2:] == ["error", "response.failed"]
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(events)))
    assert events[-1]["response"]["status"] == "failed" and events[-1]["response"]["error"]["message"]


def test_sdk_raises_on_a_failed_stream(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError):
        with client.responses.stream(model="chat/echo", input="a b c d e f", extra_body={"mock": {"fail_after": 3}}) as stream:
            list(stream)


def test_websocket_upgrade_is_426(gateway: Server) -> None:
    status, _, data = request("GET", gateway.url + "/v1/responses", None, {"upgrade": "websocket", "connection": "Upgrade", "openai-beta": "responses_websockets=2026-02-06", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13"})
    assert status == 426
    assert json.loads(data)["error"]["code"] == "upgrade_required"


def test_configured_model_and_the_ledger(client: openai.OpenAI, gateway: Server) -> None:
    created = client.responses.with_raw_response.create(model="smart", input="count me", extra_headers={"x-edge-tags": "feature=responses"})
    assert created.headers["x-edge-route"] == "chat/echo"
    assert float(created.headers["x-edge-cost-usd"]) > 0
    status, _, metrics = request("GET", gateway.url + "/metrics")
    assert status == 200 and 'edge_requests_total{model="smart"' in metrics.decode()


def test_bad_input_is_a_400_in_the_openai_envelope(gateway: Server, mock: Mock) -> None:
    before = mock.stats()["requests"]
    for body, param in (
        ({"model": "chat/echo", "input": [{"type": "function_call_output"}]}, "input[0].call_id"),
        ({"model": "chat/echo", "input": 5}, "input"),
        ({"model": "chat/echo", "input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
        ({"input": "x"}, "model"),
    ):
        status, _, data = request("POST", gateway.url + "/v1/responses", json.dumps(body).encode(), {"content-type": "application/json"})
        error = json.loads(data)["error"]
        assert status == 400, (body, error)
        assert error["param"] == param and error["message"]
    assert mock.stats()["requests"] == before


def test_input_tokens(client: openai.OpenAI) -> None:
    native = client.responses.input_tokens.count(model="native/echo", input="how many tokens is this", tools=[WEATHER])
    bridged = client.responses.input_tokens.count(model="anthropic/echo", input="how many tokens is this")
    assert native.input_tokens > 0 and bridged.input_tokens > 0


def test_bridged_fields_meet_the_kinds_chat_table(client: openai.OpenAI, mock: Mock) -> None:
    """As the generated table says (adapters/responses_fields.py): Anthropic refuses
    text.verbosity (chat ``verbosity``) unless asked to drop it; chat has no max_tool_calls."""
    before = mock.stats()["requests"]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="anthropic/echo", input="hi", text={"verbosity": "low"})
    assert info.value.code == "unsupported_parameter" and info.value.body["param"] == "verbosity"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gemini/echo", input="hi", max_tool_calls=2)
    assert refused.value.body["param"] == "max_tool_calls"  # type: ignore[index]
    assert mock.stats()["requests"] == before
    dropped = client.responses.with_raw_response.create(model="anthropic/echo", input="hi", text={"verbosity": "low"}, extra_headers={"x-edge-drop-params": "true"})
    assert dropped.headers["x-edge-dropped-params"] == "verbosity" and dropped.parse().output_text == "hi"
    native = client.responses.create(model="native/echo", input="hi", text={"verbosity": "low"}, max_tool_calls=2)
    assert native.output_text == "hi" and mock.stats()["last_request"]["max_tool_calls"] == 2


@pytest.mark.parametrize("streamed", (True, False))
def test_anthropic_thinking_signature_goes_back_on_the_next_turn(client: openai.OpenAI, mock: Mock, streamed: bool) -> None:
    if streamed:
        with client.responses.stream(model="anthropic/tool", input="weather in Paris?", tools=[WEATHER], reasoning={"effort": "low"}) as stream:
            first = stream.get_final_response()
    else:  # the thinking block of a whole Anthropic message carries it too
        first = client.responses.create(model="anthropic/tool", input="weather in Paris?", tools=[WEATHER], reasoning={"effort": "low"})
    [reasoning] = [i for i in first.output if i.type == "reasoning"]
    [call] = [i for i in first.output if i.type == "function_call"]
    assert reasoning.encrypted_content == "c2lnLW1vY2s="  # the mock's signature
    client.responses.create(model="anthropic/echo", previous_response_id=first.id, reasoning={"effort": "low"},
                            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "19 C"}], tools=[WEATHER])
    assistant = mock.stats()["last_request"]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {"type": "thinking", "thinking": "Thinking about the question.", "signature": "c2lnLW1vY2s="}
    assert assistant["content"][1]["type"] == "tool_use" and assistant["content"][1]["id"] == call.call_id
