"""POST /v1/messages through a real gateway, driven by the official anthropic SDK.

Each case runs three ways: to an Anthropic provider (the byte pass-through; the mock's Anthropic
dialect checks the request as the API does, and the test compares the bytes it received with
the bytes the SDK sent), and translated to an OpenAI-format and a Gemini provider (the mock's
dialects read the translated request).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.support import SERVING, Mock, Proc, Server, request

from .messages_support import ROUTES, Recorder, check_order, client, events, ledger_row, start

TOOLS = [{"name": "get_weather", "description": "Weather for a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()
TOOLU = re.compile(r"^toolu_[a-zA-Z0-9_-]+$")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("messages")


@pytest.fixture(scope="module")
def gateway(mock: Mock, home: Path) -> Iterator[Server]:
    yield from start(mock, home)


@pytest.fixture()
def make(gateway: Server) -> Iterator[Any]:
    """SDK clients for this test, closed after it (each holds a connection pool)."""
    made: list[anthropic.Anthropic] = []

    def build(recorder: Recorder | None = None, **kwargs: Any) -> anthropic.Anthropic:
        made.append(client(gateway, recorder, **kwargs))
        return made[-1]

    yield build
    for sdk in made:
        sdk.close()


def _upstream(mock: Mock) -> dict[str, Any]:
    return mock.stats()["recent"][-1]


def _expected_bytes(sent: bytes, client_model: str, upstream_model: str) -> bytes:
    return sent.replace(f'"model":"{client_model}"'.encode(), f'"model":"{upstream_model}"'.encode(), 1)


@pytest.mark.parametrize("route", ROUTES)
def test_create(make: Any, gateway: Server, mock: Mock, home: Path, route: str) -> None:
    recorder = Recorder()
    sdk = make(recorder)
    raw = sdk.messages.with_raw_response.create(model=f"{route}/echo", max_tokens=64, messages=[{"role": "user", "content": "hello there gateway"}], metadata={"user_id": "user-42"})
    message = raw.parse()
    assert message.model == f"{route}/echo" and message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "hello there gateway"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3 and message.usage.input_tokens > 0
    assert raw.headers["request-id"] == raw.headers["x-request-id"] and raw.headers["x-edge-route"] == f"{route}/echo"
    seen = _upstream(mock)
    if route == "claude":
        assert seen["body"].encode() == _expected_bytes(recorder.bodies[-1], "claude/echo", "echo")  # the client's bytes
        assert seen["headers"]["anthropic-version"] == recorder.headers[-1]["anthropic-version"] and seen["path_qs"] == "/v1/messages"
    elif route == "oai":
        body = mock.stats()["last_request"]
        assert body["messages"] == [{"role": "user", "content": "hello there gateway"}] and body["max_completion_tokens"] == 64 and body["user"] == "user-42"
    elif route == "oll":
        sent = json.loads(seen["body"])
        assert seen["path_qs"] == "/api/chat" and sent["messages"] == [{"role": "user", "content": "hello there gateway"}] and sent["options"]["num_predict"] == 64
    else:
        assert "generateContent" in seen["path_qs"] and '"maxOutputTokens":64' in seen["body"]
    row = ledger_row(home, raw.headers["request-id"])
    assert row["endpoint"] == "messages" and row["status"] == 200 and row["completion_tokens"] == 3 and row["provider"] == route


@pytest.mark.parametrize("route", ROUTES)
def test_stream_and_final_message(make: Any, gateway: Server, mock: Mock, route: str) -> None:
    sdk = make()
    with sdk.messages.stream(model=f"{route}/echo", max_tokens=64, messages=[{"role": "user", "content": "one two three four"}]) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "one two three four" and final.content[0].text == "one two three four"  # type: ignore[union-attr]
    assert final.model == f"{route}/echo" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4 and final.usage.input_tokens > 0
    # The raw events, in Anthropic's order.
    body = b'{"model":"%s/echo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"one two three four"}]}' % route.encode()
    status, headers, raw = request("POST", gateway.url + "/v1/messages", body, {"x-api-key": "edge-admin-key-messages-0001", "anthropic-version": "2023-06-01", "content-type": "application/json"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream") and headers["request-id"]
    docs = events(raw)
    check_order(docs)
    assert docs[0]["message"]["model"] == f"{route}/echo" and docs[0]["message"]["usage"]["input_tokens"] > 0
    assert docs[-2]["usage"]["output_tokens"] == 4 and docs[-2]["delta"]["stop_reason"] == "end_turn"
    if route == "claude":
        # The client gets the upstream's bytes with only the model replaced.
        status, _, direct = request("POST", mock.url + "/v1/messages", body.replace(b"claude/echo", b"echo"), {"anthropic-version": "2023-06-01", "content-type": "application/json"})
        assert status == 200 and raw == direct.replace(b'"model":"echo"', b'"model":"claude/echo"', 1)


def test_a_bridged_stream_ends_with_the_provider_s_input_count(make: Any, gateway: Server, home: Path) -> None:
    """An OpenAI-format upstream reports usage only at the end: message_start has the gateway's
    count of the translated prompt, message_delta the provider's own, which the SDK keeps and
    the ledger records unmarked; with no usage at all, the estimate is marked in both."""
    words = "internationalization considerations notwithstanding everything"  # long words: the two counts differ
    # Paced, so that the usage chunk does not arrive in the first read.
    body = b'{"model":"oai/echo","max_tokens":64,"stream":true,"mock":{"chunk_delay_ms":20},"messages":[{"role":"user","content":"%s"}]}' % words.encode()
    headers = {"x-api-key": "edge-admin-key-messages-0001", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    status, got, raw = request("POST", gateway.url + "/v1/messages", body, headers)
    assert status == 200
    docs = events(raw)
    provider = len(words.split()) + 4 + 3  # the mock's count (adapters/mock/replies.prompt_tokens)
    start_count, final = docs[0]["message"]["usage"]["input_tokens"], docs[-2]["usage"]
    assert final["input_tokens"] == provider and "estimated" not in final and start_count not in (0, provider)
    with make().messages.stream(model="oai/echo", max_tokens=64, messages=[{"role": "user", "content": words}]) as stream:
        message = stream.get_final_message()
    assert message.usage.input_tokens == provider and message.usage.output_tokens == len(words.split())
    row = ledger_row(home, got["request-id"])
    assert (row["prompt_tokens"], row["completion_tokens"], row["estimated"]) == (provider, len(words.split()), 0)
    none = body.replace(b'"chunk_delay_ms":20', b'"no_usage":true')
    status, got, raw = request("POST", gateway.url + "/v1/messages", none, headers)
    final = events(raw)[-2]["usage"]
    assert status == 200 and final["estimated"] is True and final["input_tokens"] > 0 and final["output_tokens"] > 0
    row = ledger_row(home, got["request-id"])
    assert row["estimated"] == 1 and row["prompt_tokens"] == final["input_tokens"]


@pytest.mark.parametrize("route", ROUTES)
def test_tools_in_two_turns(make: Any, gateway: Server, mock: Mock, route: str) -> None:
    sdk = make()
    question = {"role": "user", "content": "weather in Lyon?"}
    choice = {"type": "any"}
    if route == "oll":  # Ollama cannot force a tool call: refused, naming the field; auto is fine
        with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
            sdk.messages.create(model=f"{route}/tool", max_tokens=64, tools=TOOLS, tool_choice=choice, messages=[question])  # type: ignore[arg-type,list-item]
        choice = {"type": "auto"}
    first = sdk.messages.create(model=f"{route}/tool", max_tokens=64, tools=TOOLS, tool_choice=choice, messages=[question])  # type: ignore[arg-type,list-item]
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and isinstance(uses[0].input, dict) and TOOLU.match(uses[0].id)
    if route == "oai":
        assert mock.stats()["last_request"]["tool_choice"] == "required"
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "19 C and sunny"}]}
    history = [question, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}, result]
    with sdk.messages.stream(model=f"{route}/echo", max_tokens=64, tools=TOOLS, messages=history) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    if route == "oai":
        sent = mock.stats()["last_request"]["messages"]
        call_id = sent[1]["tool_calls"][0]["id"]
        assert not call_id.startswith("toolu_") and sent[2] == {"role": "tool", "tool_call_id": call_id, "content": "19 C and sunny"}
        assert uses[0].id == "toolu_" + call_id  # the provider's id, mapped back on the next turn
    elif route == "gem":
        assert "functionResponse" in _upstream(mock)["body"] and "get_weather" in _upstream(mock)["body"]
    elif route == "oll":
        sent = json.loads(_upstream(mock)["body"])["messages"]
        assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": uses[0].input}
        assert sent[2] == {"role": "tool", "content": "19 C and sunny", "tool_name": "get_weather"}  # paired by the call's name, as Ollama pairs
    # (claude: the mock's Anthropic dialect refuses a tool_result without its tool_use, as the API does)


@pytest.mark.parametrize("route", ROUTES)
def test_thinking_and_signatures_sent_back(make: Any, gateway: Server, mock: Mock, route: str) -> None:
    recorder = Recorder()
    sdk = make(recorder)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    question = {"role": "user", "content": "think first"}
    with sdk.messages.stream(model=f"{route}/echo", max_tokens=2048, thinking=thinking, messages=[question]) as stream:  # type: ignore[arg-type]
        first = stream.get_final_message()
    if route == "oai":
        assert mock.stats()["last_request"]["reasoning_effort"] == "low"
        return  # the OpenAI mock gives no reasoning text back
    kinds = [b.type for b in first.content]
    assert kinds[0] == "thinking" and first.content[0].thinking  # type: ignore[union-attr]
    if route == "gem":
        assert '"thinkingConfig"' in _upstream(mock)["body"]
        return
    if route == "oll":
        assert json.loads(_upstream(mock)["body"])["think"] in (True, "low")
        return
    signature = first.content[0].signature  # type: ignore[union-attr]
    assert signature == "c2lnLW1vY2s="
    history = [question, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]}, {"role": "user", "content": "and now?"}]
    second = sdk.messages.create(model="claude/echo", max_tokens=2048, thinking=thinking, messages=history)  # type: ignore[arg-type]
    assert second.content[-1].text == "and now?"  # type: ignore[union-attr]
    seen = _upstream(mock)["body"].encode()
    assert seen == _expected_bytes(recorder.bodies[-1], "claude/echo", "echo") and b'"signature":"c2lnLW1vY2s="' in seen


@pytest.mark.parametrize("route", ROUTES)
def test_images(make: Any, gateway: Server, mock: Mock, route: str) -> None:
    recorder = Recorder()
    sdk = make(recorder)
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}, {"type": "text", "text": "what is this"}]
    message = sdk.messages.create(model=f"{route}/echo", max_tokens=64, messages=[{"role": "user", "content": content}])  # type: ignore[list-item,misc]
    assert message.content[0].text == "what is this"  # type: ignore[union-attr]
    seen = _upstream(mock)["body"]
    if route == "claude":
        assert seen.encode() == _expected_bytes(recorder.bodies[-1], "claude/echo", "echo")
    elif route == "oai":
        parts = mock.stats()["last_request"]["messages"][0]["content"]
        assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    elif route == "oll":
        assert json.loads(seen)["messages"][0]["images"] == [PNG]
    else:
        assert '"inlineData"' in seen and PNG in seen


@pytest.mark.parametrize("route", ROUTES)
def test_count_tokens(make: Any, gateway: Server, mock: Mock, route: str) -> None:
    sdk = make()
    messages = [{"role": "user", "content": "count these few words please"}]
    raw = sdk.messages.with_raw_response.count_tokens(model=f"{route}/echo", messages=messages)  # type: ignore[arg-type]
    counted = raw.parse().input_tokens
    assert counted > 0 and raw.headers["request-id"]
    answered = sdk.messages.create(model=f"{route}/echo", max_tokens=16, messages=messages)  # type: ignore[arg-type]
    if route in ("oai", "oll"):
        assert raw.headers["x-edge-token-count"] == "estimated"  # the gateway's own count, marked
    else:
        assert raw.headers["x-edge-token-count"] == "exact"
        assert counted == answered.usage.input_tokens  # the provider's own count (Anthropic's endpoint, Gemini countTokens)
        assert ("count_tokens" if route == "claude" else ":countTokens") in mock.stats()["recent"][-2]["path_qs"]


def test_beta_query_and_headers_are_forwarded(make: Any, gateway: Server, mock: Mock) -> None:
    sdk = make()
    sdk.beta.messages.create(model="claude/echo", max_tokens=16, betas=["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"], messages=[{"role": "user", "content": "beta"}], extra_headers={"x-app": "cli"}, extra_query={"beta": "true"})  # as Claude Code sends it
    seen = _upstream(mock)
    assert seen["path_qs"] == "/v1/messages?beta=true"
    assert seen["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-1m-2025-08-07" and seen["headers"]["x-app"] == "cli"
    assert "x-api-key" not in seen["headers"]  # the mock hides key headers; what it got was the provider's key, checked by the mock when set


def test_bearer_and_x_api_key_both_accepted(make: Any) -> None:
    for sdk in (make(), make(api_key=None, auth_token="edge-admin-key-messages-0001")):
        assert sdk.messages.create(model="claude/echo", max_tokens=8, messages=[{"role": "user", "content": "ok"}]).content[0].text == "ok"  # type: ignore[union-attr]


def test_pings_while_the_upstream_is_silent(gateway: Server) -> None:
    for route in ROUTES:
        body = b'{"model":"%s/echo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"slow words here"}],"mock":{"chunk_delay_ms":700}}' % route.encode()
        status, _, raw = request("POST", gateway.url + "/v1/messages", body, {"x-api-key": "edge-admin-key-messages-0001", "anthropic-version": "2023-06-01", "content-type": "application/json"})
        docs = events(raw)
        check_order(docs)
        assert status == 200 and sum(d["type"] == "ping" for d in docs) >= 2, (route, [d["type"] for d in docs])


def test_the_embedded_default_answers_messages_for_mock_models(tmp_path: Path) -> None:
    """`edge serve` with no config: mock/* models answer /v1/messages, through the mock's own
    Anthropic dialect (the pass-through, as to Anthropic)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "GEMINI_", "OLLAMA_", "EDGE_"))}
    env["EDGE_HOME"] = str(tmp_path)
    proc = Proc(["serve", "--port", "0"], env=env, cwd=str(tmp_path))
    try:
        found = proc.wait_for(SERVING, 15)
        with anthropic.Anthropic(base_url=f"http://127.0.0.1:{found.group(2)}", api_key="unused", max_retries=0) as sdk:
            raw = sdk.messages.with_raw_response.create(model="mock/echo", max_tokens=32, messages=[{"role": "user", "content": "ready?"}])
            assert raw.parse().content[0].text == "ready?" and raw.parse().model == "mock/echo"  # type: ignore[union-attr]
            assert raw.headers["x-edge-route"] == "mock/echo"
            with sdk.messages.stream(model="mock/tool", max_tokens=32, tools=TOOLS, messages=[{"role": "user", "content": "weather?"}]) as stream:  # type: ignore[arg-type]
                final = stream.get_final_message()
            assert final.stop_reason == "tool_use" and TOOLU.match(final.content[-1].id)  # type: ignore[union-attr]
            counted = sdk.messages.with_raw_response.count_tokens(model="mock/echo", messages=[{"role": "user", "content": "ready?"}])
            assert counted.parse().input_tokens > 0 and counted.headers["x-edge-token-count"] == "exact"
    finally:
        assert proc.stop() == 0


def test_fallback_from_anthropic_to_a_translated_route_with_tags(make: Any, gateway: Server, mock: Mock, home: Path) -> None:
    """One plan, two dialects: the Anthropic route cannot be reached, the OpenAI-format one
    answers (translated), before any byte reached the client; tags and the ledger as for chat."""
    sdk = make()
    raw = sdk.messages.with_raw_response.create(model="mixed", max_tokens=32, messages=[{"role": "user", "content": "fall back please"}], extra_headers={"x-edge-tags": "customer=acme"})
    assert raw.parse().content[0].text == "fall back please" and raw.parse().model == "mixed"  # type: ignore[union-attr]
    assert raw.headers["x-edge-route"] == "oai/echo" and int(raw.headers["x-edge-attempts"]) == 2
    with sdk.messages.stream(model="mixed", max_tokens=32, messages=[{"role": "user", "content": "and streamed"}]) as stream:
        assert stream.get_final_message().content[0].text == "and streamed"  # type: ignore[union-attr]
    row = ledger_row(home, raw.headers["request-id"])
    assert row["provider"] == "oai" and row["attempts"] == 2 and "acme" in (row["tags"] or "")
    # A request only Anthropic can take leaves the bridged route out: the Anthropic route is tried alone.
    with pytest.raises(anthropic.APIStatusError) as info:
        sdk.messages.create(model="mixed", max_tokens=8, messages=[{"role": "user", "content": "x"}], extra_body={"top_k": 3})
    assert info.value.status_code == 502 and "claude_down" in info.value.message


def test_cache_breakpoints_bridged_reach_a_provider_that_takes_them(gateway: Server, mock: Mock, home: Path) -> None:
    """Breakpoints on system blocks, a tool and a tool result become the chat hints on the parts
    and tool they end: sent to an openai provider with ``cache_control: pass``, left out and
    named for OpenAI and Gemini."""
    five, hour = {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}
    doc = {
        "max_tokens": 32,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": hour}, {"type": "text", "text": "Today is Tuesday."}],
        "tools": [{**TOOLS[0], "cache_control": five}],
        "messages": [
            {"role": "user", "content": "weather in Lyon?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_call_1", "name": "get_weather", "input": {"city": "Lyon"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_call_1", "content": "19C", "cache_control": five}]},
        ],
    }
    headers = {"x-api-key": "edge-admin-key-messages-0001", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    status, got, _ = request("POST", gateway.url + "/v1/messages", json.dumps({**doc, "model": "oaihint/echo"}).encode(), headers)
    sent = mock.stats()["last_request"]
    assert status == 200 and "cache_control" not in got.get("x-edge-dropped-params", "")
    assert sent["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "You are terse.", "cache_control": hour}, {"type": "text", "text": "\nToday is Tuesday."}]}
    assert sent["tools"][0]["cache_control"] == five and sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "19C", "cache_control": five}]}
    for route in ("oai", "gem"):
        status, got, _ = request("POST", gateway.url + "/v1/messages", json.dumps({**doc, "model": f"{route}/echo"}).encode(), headers)
        assert status == 200 and {"messages[].content[].cache_control", "tools[].cache_control"} <= {p.strip() for p in got["x-edge-dropped-params"].split(",")}, route
        row = ledger_row(home, got["request-id"])
        assert "messages[].content[].cache_control" in row["dropped_params"]
        if route == "oai":
            assert "cache_control" not in json.dumps(mock.stats()["last_request"])  # left out, not sent raw
