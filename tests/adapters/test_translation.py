"""Adapters without a network: our own streams (tests/fixtures/streams, written from the documented
shapes, so the plain clone covers what ../shared covers), request translation, error mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.adapters import build_adapter
from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.ollama import OllamaAdapter
from edge.adapters.types import ANTHROPIC_MESSAGES, OPENAI_CHAT, Unsupported
from tests.adapters.replay_support import every_byte, random_pieces, replay, summarize

STREAMS = Path(__file__).resolve().parents[1] / "fixtures" / "streams"
ANTHROPIC = AnthropicAdapter("https://api.anthropic.com", "sk-ant-secret-0123456789")
GEMINI = GeminiAdapter("https://generativelanguage.googleapis.com", "gm-secret-0123456789")
OLLAMA = OllamaAdapter("http://localhost:11434")
TOOLS = [{"type": "function", "function": {"name": "lookup_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
PIXEL = "data:image/png;base64,iVBORw0KGgo="


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": reasoning}}


OWN: list[tuple[str, Any, dict[str, Any]]] = [
    ("anthropic/thinking-text-parallel-tools.sse", ANTHROPIC, {
        "content": "Let me check both cities.", "reasoning": "Need the weather tool.", "finish": ["tool_calls"], "usage": _usage(360, 58, cached=300),
        "tool_calls": [{"id": "toolu_01C", "name": "lookup_weather", "arguments": '{"city": "Oslo"}'}, {"id": "toolu_01D", "name": "lookup_weather", "arguments": '{"city": "Lyon"}'}]}),
    ("anthropic/overloaded-error-event.sse", ANTHROPIC, {
        "content": "Partial", "finish": [], "error": {"message": "Overloaded", "type": "api_error", "param": None, "code": "overloaded"}}),
    ("gemini/text-max-tokens-cached.sse", GEMINI, {"content": "It is sunny in Oslo.", "finish": ["length"], "usage": _usage(12, 53, cached=4, reasoning=45)}),
    ("gemini/call-then-raw-error.sse", GEMINI, {
        "finish": [], "tool_calls": [{"id": "fc-1__thought__c2ln", "name": "lookup_weather", "arguments": '{"city":"Oslo"}'}],
        "error": {"message": "The model is overloaded. Please try again later.", "type": "api_error", "param": None, "code": "UNAVAILABLE"}}),
    ("ollama/thinking-tool-call.ndjson", OLLAMA, {
        "reasoning": "Use the tool.", "finish": ["tool_calls"], "usage": _usage(0, 31),
        "tool_calls": [{"id": "call_GENERATED", "name": "lookup_weather", "arguments": '{"city":"Oslo"}'}, {"id": "call_GENERATED", "name": "lookup_weather", "arguments": '{"city":"Lyon"}'}]}),
    ("ollama/error-line.ndjson", OLLAMA, {"content": "Hel", "finish": [], "error": {"message": "an error was encountered while running the model: unexpected EOF", "type": "api_error", "param": None, "code": None}}),
]


@pytest.mark.parametrize(("name", "adapter", "expected"), OWN, ids=[o[0] for o in OWN])
def test_own_stream(name: str, adapter: Any, expected: dict[str, Any]) -> None:
    body = (STREAMS / name).read_bytes()
    whole, stream = replay(adapter.stream_decoder, [body])
    got = summarize(whole)
    for key, value in expected.items():
        assert got[key] == value, key
    assert stream.done == (got["error"] is None)
    assert replay(adapter.stream_decoder, every_byte(body))[0] == whole
    for seed in range(5):
        assert replay(adapter.stream_decoder, random_pieces(body, seed))[0] == whole


def test_usage_chunk_only_when_asked_but_always_captured() -> None:
    body = (STREAMS / "anthropic/thinking-text-parallel-tools.sse").read_bytes()
    sse, stream = replay(ANTHROPIC.stream_decoder, [body], include_usage=False)
    assert summarize(sse)["usage"] is None
    assert stream.usage is not None and stream.usage.prompt_tokens == 360
    assert stream.finish_reason == "tool_calls" and stream.chunks > 0 and stream.text_bytes > 0


def test_registry_builds_each_kind() -> None:
    for kind, cls in (("anthropic", AnthropicAdapter), ("gemini", GeminiAdapter), ("ollama", OllamaAdapter)):
        adapter = build_adapter(kind, "http://127.0.0.1:1", "k", None)
        assert isinstance(adapter, cls) and OPENAI_CHAT not in adapter.passthrough
        # Anthropic speaks the Messages API itself: a Messages client's bytes pass through.
        assert (ANTHROPIC_MESSAGES in adapter.passthrough) == (adapter.native_messages is not None) == (kind == "anthropic")


def _native(adapter: Any, body: dict[str, Any], stream: bool = False) -> tuple[Any, dict[str, Any]]:
    req = adapter.chat_request({"model": "m", **body}, "up-model", stream)
    return req, json.loads(req.body)


def test_anthropic_request() -> None:
    req, out = _native(ANTHROPIC, {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Where?"}, {"type": "image_url", "image_url": {"url": PIXEL}}, {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
            {"role": "developer", "content": "Use tools."},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "lookup_weather", "arguments": '{"city":"Oslo"}'}}, {"id": "t2", "type": "function", "function": {"name": "lookup_weather", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "19C"},
            {"role": "tool", "tool_call_id": "t2", "content": "21C"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False, "stop": "###", "temperature": 1.7, "top_p": 0.9, "user": "u1",
        "top_k": 5,
    }, stream=True)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "sk-ant-secret-0123456789" and req.headers["anthropic-version"] == "2023-06-01"
    assert out["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}]
    assert out["max_tokens"] == 4096 and out["stream"] is True and out["top_k"] == 5
    assert [t["role"] for t in out["messages"]] == ["user", "assistant", "user"]
    user = out["messages"][0]["content"]
    assert user[1]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert user[2]["source"] == {"type": "url", "url": "https://x.test/a.png"}
    assert out["messages"][1]["content"][1]["input"] == {}
    merged = out["messages"][2]["content"]
    assert [b["type"] for b in merged] == ["tool_result", "tool_result", "text"]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["stop_sequences"] == ["###"] and out["temperature"] == 1.0 and out["metadata"] == {"user_id": "u1"}
    assert out["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}


@pytest.mark.parametrize(("choice", "native"), [("auto", {"type": "auto"}), ("none", {"type": "none"}), ({"type": "function", "function": {"name": "lookup_weather"}}, {"type": "tool", "name": "lookup_weather"})])
def test_anthropic_tool_choice(choice: Any, native: dict[str, Any]) -> None:
    _, out = _native(ANTHROPIC, {"messages": [{"role": "user", "content": "x"}], "tools": TOOLS, "tool_choice": choice})
    assert out["tool_choice"] == native


def test_anthropic_json_schema_thinking_and_limits() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    _, out = _native(ANTHROPIC, {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 100, "reasoning_effort": "low", "temperature": 0.2,
                                 "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048} and out["max_tokens"] == 2148 and "temperature" not in out
    with pytest.raises(Unsupported):
        _native(ANTHROPIC, {"messages": [{"role": "user", "content": "x"}], "n": 2})
    with pytest.raises(Unsupported):
        ANTHROPIC.embeddings_request({"model": "m", "input": "x"}, "m")


def test_anthropic_errors_map_to_openai_statuses() -> None:
    def err(status: int, kind: str, headers: dict[str, str] | None = None) -> Any:
        return ANTHROPIC.parse_error(status, headers or {}, json.dumps({"type": "error", "error": {"type": kind, "message": "Overloaded"}}).encode())

    overloaded = err(529, "overloaded_error", {"retry-after": "7"})
    assert (overloaded.status, overloaded.code, overloaded.retry_after) == (503, "overloaded", 7.0)
    # The upstream's words as sent: secrets come out in the gateway (edge.scrub, every byte and
    # every error; tests/hostile/test_secrets_upstream.py), not in each adapter.
    assert overloaded.message == "Overloaded"
    assert (err(429, "rate_limit_error").status, err(429, "rate_limit_error").type) == (429, "rate_limit_error")
    assert err(401, "authentication_error").status == 401
    assert err(404, "not_found_error").code == "model_not_found"
    assert ANTHROPIC.parse_error(502, {}, b"<html>bad gateway</html>").status == 502


def test_gemini_request_and_signature_round_trip() -> None:
    req, out = _native(GEMINI, {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Where?"}, {"type": "image_url", "image_url": {"url": PIXEL}}, {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]},
            {"role": "assistant", "tool_calls": [{"id": "call_0123456789abcdef01234567__thought__c2ln", "type": "function", "function": {"name": "lookup_weather", "arguments": '{"city":"Oslo"}'}},
                                                  {"id": "fc-9", "type": "function", "function": {"name": "lookup_weather", "arguments": '{"city":"Lyon"}'}}]},
            {"role": "tool", "tool_call_id": "call_0123456789abcdef01234567__thought__c2ln", "content": '{"temp": 19}'},
            {"role": "tool", "tool_call_id": "fc-9", "content": "21C"},
        ],
        "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "lookup_weather"}}, "max_tokens": 50, "stop": ["###"], "seed": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}, "reasoning_effort": "low",
    }, stream=True)
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/up-model:streamGenerateContent?alt=sse"
    assert "key" not in req.url and req.headers["x-goog-api-key"] == "gm-secret-0123456789"
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in out["contents"]] == ["user", "model", "user"]
    assert out["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert out["contents"][0]["parts"][2] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a.jpg"}}
    first, second = out["contents"][1]["parts"]
    assert first == {"functionCall": {"name": "lookup_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2ln"}
    assert second == {"functionCall": {"name": "lookup_weather", "args": {"city": "Lyon"}, "id": "fc-9"}}
    assert out["contents"][2]["parts"] == [
        {"functionResponse": {"name": "lookup_weather", "response": {"temp": 19}}},
        {"functionResponse": {"name": "lookup_weather", "response": {"result": "21C"}, "id": "fc-9"}},
    ]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup_weather"]}}
    gen = out["generationConfig"]
    assert gen["maxOutputTokens"] == 50 and gen["stopSequences"] == ["###"] and gen["seed"] == 3
    assert gen["responseMimeType"] == "application/json" and gen["responseJsonSchema"] == {"type": "object"}
    assert gen["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    with pytest.raises(Unsupported):
        _native(GEMINI, {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]})


def test_gemini_embeddings_and_errors() -> None:
    req = GEMINI.embeddings_request({"model": "e", "input": ["a", "b"], "dimensions": 8}, "text-embedding-004")
    assert req.url.endswith("/v1beta/models/text-embedding-004:batchEmbedContents")
    assert json.loads(req.body)["requests"][1] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}
    doc = json.loads(GEMINI.parse_embeddings(b'{"embeddings":[{"values":[0.1]},{"values":[0.2]}]}', "pub").body)
    assert [d["embedding"] for d in doc["data"]] == [[0.1], [0.2]] and doc["model"] == "pub"
    bad_key = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}
    assert GEMINI.parse_error(400, {}, json.dumps(bad_key).encode()).status == 401
    assert GEMINI.parse_error(503, {}, b'{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}').code == "UNAVAILABLE"


def test_openai_embeddings_answer_keeps_the_upstream_bytes_but_the_model() -> None:
    openai = build_adapter("openai", "http://127.0.0.1:1/v1", "k", None)
    # Floats as the upstream printed them (orjson would print 1.50 as 1.5 and 2e-05 as 2e-5),
    # whitespace inside values kept, the model renamed in place or added, usage read.
    body = b'{"object": "list", "data": [{"index": 0, "embedding": [ 1.50, 2e-05, -0.0 ]}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3}}'
    result = openai.parse_embeddings(body, "pub")
    assert result.body == b'{"object":"list","data":[{"index": 0, "embedding": [ 1.50, 2e-05, -0.0 ]}],"model":"pub","usage":{"prompt_tokens": 3, "total_tokens": 3}}'
    assert result.usage is not None and result.usage.prompt_tokens == 3 and result.document()["model"] == "pub"
    assert json.loads(openai.parse_embeddings(b'{"data": []}', 'a "quoted" name').body) == {"data": [], "model": 'a "quoted" name'}
    assert openai.parse_embeddings(b'{"data": []}', "pub").usage is None
    for bad in (b"[1, 2]", b'{"data": [1,}', b'{"data": tru}', b"", b'{"a": 1} {"b": 2}'):
        with pytest.raises(ValueError):
            openai.parse_embeddings(bad, "pub")


def test_ollama_request() -> None:
    req, out = _native(OLLAMA, {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup_weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "19C"},
        ],
        "tools": TOOLS, "max_completion_tokens": 20, "stop": ["###"], "temperature": 0.1, "response_format": {"type": "json_object"}, "reasoning_effort": "high",
    }, stream=False)
    assert req.url == "http://localhost:11434/api/chat" and "authorization" not in req.headers
    assert out["stream"] is False and out["format"] == "json" and out["think"] == "high"
    assert out["options"] == {"temperature": 0.1, "num_predict": 20, "stop": ["###"]}
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["messages"][1]["images"] == ["iVBORw0KGgo="]
    assert out["messages"][2]["tool_calls"] == [{"function": {"name": "lookup_weather", "arguments": {"city": "Oslo"}}}]
    assert out["messages"][3] == {"role": "tool", "content": "19C", "tool_name": "lookup_weather"}
    _, none = _native(OLLAMA, {"messages": [{"role": "user", "content": "x"}], "tools": TOOLS, "tool_choice": "none"})
    assert "tools" not in none
    with pytest.raises(Unsupported):
        _native(OLLAMA, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]})
    info = OLLAMA.parse_error(404, {}, b'{"error":"model \\"nope\\" not found, try pulling it first"}')
    assert (info.status, info.code) == (404, "model_not_found")


def test_ollama_whole_response_with_tool_calls() -> None:
    body = b'{"model":"m","message":{"role":"assistant","content":"","thinking":"hm","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":true,"done_reason":"stop","eval_count":5}'
    doc = json.loads(OLLAMA.parse_chat(body, "pub").body)
    choice = doc["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["reasoning_content"] == "hm"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    assert doc["usage"]["prompt_tokens"] == 0 and doc["usage"]["completion_tokens"] == 5
