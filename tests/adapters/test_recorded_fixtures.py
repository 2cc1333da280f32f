"""Every recorded Anthropic, Gemini and Ollama fixture in ../shared/fixtures, replayed through its
adapter: the OpenAI output (content, reasoning, tool calls, finish reason, usage, errors) is
checked, and must not change when the body arrives split at every byte or in random pieces.

Read in place (never copied); skipped with a reason when ../shared is absent, required under CI.
Origins and formats: shared/fixtures/SOURCES.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.ollama import OllamaAdapter
from tests.adapters.replay_support import every_byte, exchanges, httprr, jsonl_as_sse, random_pieces, replay, request_body, summarize

pytestmark = pytest.mark.shared_fixtures

ANTHROPIC = AnthropicAdapter("https://api.anthropic.com", "sk-ant-test")
GEMINI = GeminiAdapter("https://generativelanguage.googleapis.com", "gm-test")
OLLAMA = OllamaAdapter("http://localhost:11434")


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": reasoning}}


def _gemini_array(path: Path) -> bytes:
    return httprr(path)[0][3]


# Streams: (id, adapter, how to get the body, expected summary fields).
STREAMS: list[tuple[str, Any, Any, dict[str, Any]]] = [
    ("anthropic/messages-stream-text.jsonl", ANTHROPIC, lambda p: jsonl_as_sse(p, True), {
        "content": "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?",
        "finish": ["stop"], "usage": _usage(12, 30), "tool_calls": []}),
    ("anthropic/messages-stream-tool-use.sse", ANTHROPIC, Path.read_bytes, {
        "finish": ["tool_calls"], "usage": _usage(377, 65),
        "tool_calls": [{"id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather", "arguments": '{"location": "Paris"}'}]}),
    ("anthropic/messages-stream-max-tokens-mid-tool-input.sse", ANTHROPIC, Path.read_bytes, {"finish": ["length"], "usage": _usage(450, 124)}),
    ("anthropic/messages-stream-thinking-signature.jsonl", ANTHROPIC, lambda p: jsonl_as_sse(p, True), {
        "content": "925 ÷ 5 = 185", "reasoning": "The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185",
        "finish": ["stop"], "usage": _usage(69, 53)}),
    ("anthropic/messages-stream-prompt-cache-server-tool.jsonl", ANTHROPIC, lambda p: jsonl_as_sse(p, True), {
        "content": "The sum of the squares of the numbers 1 through 12 is **650**.", "tool_calls": [],
        "finish": ["stop"], "usage": _usage(6 + 3337 + 6289, 198, cached=6289)}),
    ("anthropic/messages-stream-tool-no-args.jsonl", ANTHROPIC, lambda p: jsonl_as_sse(p, True), {
        "content": "I'll update the issue list for you.", "finish": ["tool_calls"], "usage": _usage(565, 48),
        "tool_calls": [{"id": "toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "name": "updateIssueList", "arguments": "{}"}]}),
    ("gemini/stream-text-basic.sse", GEMINI, Path.read_bytes, {"content": "The capital of Wyoming is **Cheyenne**.\n", "finish": ["stop"], "usage": _usage(7, 10)}),
    ("gemini/stream-text-gemini3-signature.jsonl", GEMINI, lambda p: jsonl_as_sse(p, False), {
        "content": 'There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y', "finish": ["stop"], "usage": _usage(9, 23 + 185, reasoning=185)}),
    ("gemini/stream-thought-summary.sse", GEMINI, Path.read_bytes, {"finish": ["stop"], "usage": _usage(10, 48 + 540, reasoning=540)}),
    ("gemini/stream-thinking-function-call-signature.sse", GEMINI, Path.read_bytes, {"content": "", "finish": ["tool_calls"]}),
    ("gemini/stream-function-call-gemini3.jsonl", GEMINI, lambda p: jsonl_as_sse(p, False), {
        "content": "", "finish": ["tool_calls"], "usage": _usage(29, 15 + 45, reasoning=45)}),
    ("gemini/vertex-stream-parallel-calls-partial-args.jsonl", GEMINI, lambda p: jsonl_as_sse(p, False), {
        "content": "", "finish": ["tool_calls"], "usage": _usage(249, 58 + 183, reasoning=183)}),
    ("gemini/stream-json-array-int-enums.httprr", GEMINI, _gemini_array, {"finish": ["stop"], "usage": _usage(8, 578)}),
    ("gemini/stream-prompt-blocked-safety.sse", GEMINI, Path.read_bytes, {"content": "", "finish": ["content_filter"], "usage": None}),
    ("gemini/vertex-stream-finish-reason-safety.sse", GEMINI, Path.read_bytes, {"content": "<redacted>", "finish": ["content_filter"]}),
    ("gemini/vertex-stream-error-mid-stream.sse", GEMINI, Path.read_bytes, {
        "content": "First Second ", "finish": [], "error": {"message": "The operation was cancelled.", "type": "invalid_request_error", "param": None, "code": "CANCELLED"}}),
    ("ollama/chat-stream-done-reason-length.httprr", OLLAMA, lambda p: httprr(p)[0][3], {"finish": ["length"], "usage": _usage(15, 50)}),
    ("ollama/chat-stream-format-json-schema.httprr", OLLAMA, lambda p: httprr(p)[0][3], {"content": '{"feet": 6076}', "finish": ["stop"], "usage": _usage(25, 10)}),
    ("ollama/cloud-chat-stream-thinking.httprr", OLLAMA, lambda p: httprr(p)[0][3], {"content": "1  \n2  \n3  \n4  \n5", "finish": ["stop"], "usage": _usage(74, 57)}),
    ("ollama/cloud-chat-tool-call-thinking.httprr", OLLAMA, lambda p: httprr(p)[0][3], {
        "content": "", "finish": ["tool_calls"], "usage": _usage(145, 44),
        "tool_calls": [{"id": "call_mo1wm122", "name": "getWeather", "arguments": '{"location":"San Francisco, CA"}'}]}),
]

GEMINI_CALLS = {
    "gemini/stream-thinking-function-call-signature.sse": [("now", {})],
    "gemini/stream-function-call-gemini3.jsonl": [("weather", {"location": "San Francisco"})],
    "gemini/vertex-stream-parallel-calls-partial-args.jsonl": [("read_theme", {}), ("read_screen", {"id": "A"}), ("read_screen", {"id": "B"}), ("read_screen", {"id": "C"})],
}


def _body(shared: Path, name: str, load: Any) -> bytes:
    return load(shared / name)


@pytest.mark.parametrize(("name", "adapter", "load", "expected"), STREAMS, ids=[s[0] for s in STREAMS])
def test_stream_replay(shared_fixtures: Path, name: str, adapter: Any, load: Any, expected: dict[str, Any]) -> None:
    body = _body(shared_fixtures, name, load)
    sse, stream = replay(adapter.stream_decoder, [body])
    got = summarize(sse)
    for key, value in expected.items():
        assert got[key] == value, f"{key}: {got[key]!r}"
    assert got["roles"] == ["assistant"]  # exactly one role, on the first chunk
    if name in GEMINI_CALLS:
        calls = got["tool_calls"]
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == GEMINI_CALLS[name]
        assert all(c["id"].startswith("call_GENERATED") for c in calls)  # gateway-made ids
    assert stream.done == (got["error"] is None)
    assert (stream.error is not None) == (got["error"] is not None)


@pytest.mark.parametrize(("name", "adapter", "load", "expected"), STREAMS, ids=[s[0] for s in STREAMS])
def test_stream_replay_is_split_invariant(shared_fixtures: Path, name: str, adapter: Any, load: Any, expected: dict[str, Any]) -> None:
    body = _body(shared_fixtures, name, load)
    # (ids the gateway makes for Gemini calls are random; replay() masks them)
    whole, _ = replay(adapter.stream_decoder, [body])
    assert replay(adapter.stream_decoder, every_byte(body))[0] == whole
    for seed in range(5):
        assert replay(adapter.stream_decoder, random_pieces(body, seed))[0] == whole


def test_every_recorded_file_is_covered(shared_fixtures: Path) -> None:
    covered = {s[0] for s in STREAMS} | set(WHOLE) | set(ERRORS) | set(EXCHANGES)
    present = {f"{d}/{p.name}" for d in ("anthropic", "gemini", "ollama") for p in (shared_fixtures / d).iterdir()}
    assert present - covered == set(), "recorded fixtures nobody replays"


# -- whole responses ------------------------------------------------------------------------

WHOLE: dict[str, tuple[Any, dict[str, Any]]] = {
    "anthropic/messages-response-text.json": (ANTHROPIC, {
        "content": "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?",
        "finish": "stop", "usage": _usage(12, 29)}),
    "gemini/response-implicit-caching.json": (GEMINI, {
        "content": "Red Riding Hood is looking for **directions** in the forest.", "finish": "stop", "usage": _usage(12013, 15 + 73, cached=11243, reasoning=73)}),
    "gemini/response-parallel-function-calls.json": (GEMINI, {"content": None, "finish": "tool_calls", "usage": None,
        "calls": [("sum", {"y": 1, "x": 2}), ("multiply", {"y": 3, "x": 4}), ("subtract", {"y": 5, "x": 6})]}),
}


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_whole_response(shared_fixtures: Path, name: str) -> None:
    adapter, expected = WHOLE[name]
    result = adapter.parse_chat((shared_fixtures / name).read_bytes(), "public-model")
    doc = json.loads(result.body)
    assert doc["object"] == "chat.completion" and doc["model"] == "public-model" and doc["id"].startswith("chatcmpl-")
    choice = doc["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == expected["content"]
    assert choice["finish_reason"] == expected["finish"] == result.finish_reason
    assert doc.get("usage") == expected["usage"]
    if "calls" in expected:
        calls = choice["message"]["tool_calls"]
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == expected["calls"]
        assert len({c["id"] for c in calls}) == 3 and all(c["type"] == "function" for c in calls)


# -- errors ---------------------------------------------------------------------------------

ERRORS: dict[str, tuple[Any, int, dict[str, Any]]] = {
    "gemini/error-429-resource-exhausted-retryinfo.json": (GEMINI, 429, {"status": 429, "type": "rate_limit_error", "code": "RESOURCE_EXHAUSTED", "retry_after": 34.4}),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_body(shared_fixtures: Path, name: str) -> None:
    adapter, status, expected = ERRORS[name]
    info = adapter.parse_error(status, {}, (shared_fixtures / name).read_bytes())
    for key, value in expected.items():
        assert getattr(info, key) == value
    assert info.message


EXCHANGES = {
    "anthropic/exchange-429-retry-then-structured-output-stream.json",
    "anthropic/exchange-tool-loop-stream.json",
    "anthropic/exchange-tool-use-then-400-invalid-request.json",
    "ollama/chat-error-400-context-length.httprr",
    "ollama/chat-error-400-tools-unsupported.httprr",
}


def test_anthropic_429_then_structured_output_stream(shared_fixtures: Path) -> None:
    (req1, s1, h1, b1), (_, s2, _, _), (req3, s3, _, b3) = exchanges(shared_fixtures / "anthropic/exchange-429-retry-then-structured-output-stream.json")
    assert s1 == s2 == 429
    info = ANTHROPIC.parse_error(s1, h1, b1)
    assert (info.status, info.type, info.code) == (429, "rate_limit_error", "rate_limit_exceeded")
    assert "rate limit" in info.message
    # The same request from the OpenAI side gives the recorded native request.
    upstream = ANTHROPIC.chat_request(
        {"model": "x", "messages": [{"role": "user", "content": req3["body"]["messages"][0]["content"]}], "max_tokens": 1024, "stream": True,
         "response_format": {"type": "json_schema", "json_schema": {"name": "ids", "schema": {"type": "array", "items": {"type": "integer"}}}}},
        "claude-sonnet-4-5", True)
    assert json.loads(upstream.body) == req3["body"]
    got = summarize(replay(ANTHROPIC.stream_decoder, every_byte(b3))[0])
    assert got["content"] == "[12345,67890]" and got["finish"] == ["stop"] and got["usage"] == _usage(135, 10)


def test_anthropic_tool_loop_round_trip(shared_fixtures: Path) -> None:
    (req1, _, _, b1), (req2, _, _, b2) = exchanges(shared_fixtures / "anthropic/exchange-tool-loop-stream.json")
    first = summarize(replay(ANTHROPIC.stream_decoder, [b1])[0])
    assert first["finish"] == ["tool_calls"]
    call = first["tool_calls"][0]
    tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]}} for t in req1["body"]["tools"]]
    # Turn 2 as an OpenAI client sends it: the assistant's tool call, then the tool result.
    body = {
        "model": "x", "max_tokens": 1024, "tools": tools, "stream": True,
        "messages": [
            {"role": "user", "content": "What is the weather in SF?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
            {"role": "tool", "tool_call_id": call["id"], "content": req2["body"]["messages"][2]["content"][0]["content"]},
        ],
    }
    native = json.loads(ANTHROPIC.chat_request(body, "claude-haiku-4-5", True).body)
    recorded = req2["body"]
    for turn in recorded["messages"][1]["content"]:
        turn.pop("caller", None)  # an output-only field the SDK echoed back
    assert native["messages"] == recorded["messages"]
    assert native["tools"] == recorded["tools"]
    second = summarize(replay(ANTHROPIC.stream_decoder, every_byte(b2))[0])
    assert second["content"].startswith("The weather in San Francisco, CA is currently") and second["finish"] == ["stop"]


def test_anthropic_tool_result_without_assistant_turn_is_the_recorded_400(shared_fixtures: Path) -> None:
    (_, s1, _, b1), (_, s2, h2, b2) = exchanges(shared_fixtures / "anthropic/exchange-tool-use-then-400-invalid-request.json")
    doc = json.loads(ANTHROPIC.parse_chat(b1, "m").body)
    assert doc["choices"][0]["finish_reason"] == "tool_calls"
    call = doc["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "units": "c"}
    info = ANTHROPIC.parse_error(s2, h2, b2)
    assert (info.status, info.type, info.code) == (400, "invalid_request_error", "invalid_request_error")
    # Our translation keeps the assistant turn, so it never builds the request that got this 400.
    native = json.loads(ANTHROPIC.chat_request({"model": "x", "messages": [
        {"role": "user", "content": "What's the weather in SF in Celsius?"},
        {"role": "assistant", "tool_calls": [{"id": call["id"], "type": "function", "function": call["function"]}]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]}, "m", False).body)
    assert [t["role"] for t in native["messages"]] == ["user", "assistant", "user"]
    assert native["messages"][1]["content"][0]["type"] == "tool_use"


@pytest.mark.parametrize("name", ["ollama/chat-error-400-context-length.httprr", "ollama/chat-error-400-tools-unsupported.httprr"])
def test_ollama_error_bodies(shared_fixtures: Path, name: str) -> None:
    raw_request, status, headers, body = httprr(shared_fixtures / name)[0]
    assert request_body(raw_request)["model"] == "gemma3:1b"
    info = OLLAMA.parse_error(status, headers, body)
    assert info.status == 400 and info.type == "invalid_request_error"
    assert info.message == json.loads(body)["error"]
