"""Every recorded Responses fixture (../shared/fixtures/responses/ and the Responses error stream
in ../shared/fixtures/openai/), replayed through the native pass-through and through the bridge.

- Native: the recorded stream through edge/responses/native.py, fed whole and one byte at a
  time, must come out identical both ways and equal to what was recorded but for the model name
  (the final ``response.completed`` is held for the sink and written after it); the usage, the
  end and an in-stream error are read as recorded. A whole JSON answer is read with its usage.
- Bridge: the recorded stream decoded into normalized chunks (adapters/_responses_stream.py) and
  written again by the bridge's writer (adapters/responses_wire.py), one byte at a time and
  whole, gives the same text, function calls (name, call_id, arguments), reasoning summary,
  encrypted content and usage as the recording, in the documented event order.
- Requests: every recorded request body is translated to chat (adapters/responses_bridge.py)
  and then to each translating provider's own request; the web-search one is refused naming the
  tool, and the recorded 400 is read into the OpenAI error the client gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.adapters._responses_stream import ResponsesStreamDecoder, chunks_from_response
from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.gemini import GeminiAdapter
from edge.adapters.ollama import OllamaAdapter
from edge.adapters.openai_compat import OpenAIAdapter
from edge.adapters.responses_bridge import BridgeError, input_items, to_chat
from edge.adapters.responses_wire import ResponsesWriter, base_response
from edge.adapters.types import Chunk
from edge.responses.native import NativeResponsesStream
from tests.adapters.replay_support import every_byte, jsonl_as_sse

pytestmark = pytest.mark.shared_fixtures

PUBLIC = "edge-public"
TRANSLATORS = (AnthropicAdapter("https://api.anthropic.com", "k"), GeminiAdapter("https://generativelanguage.googleapis.com", "k"), OllamaAdapter("http://localhost:11434"))


def _cassette(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["interactions"]


def _turns(sse: bytes) -> list[bytes]:
    """Streams laid end to end (SOURCES.md: four responses in one file), one by one."""
    parts = sse.split(b"event: response.created\n")
    return [b"event: response.created\n" + part for part in parts if part]


def streams(root: Path) -> list[tuple[str, bytes]]:
    laid = _turns(jsonl_as_sse(root / "responses/stream-reasoning-summary-encrypted-function-calls.jsonl", True))
    assert len(laid) == 4
    out = [(f"responses/stream-reasoning-summary-encrypted-function-calls.jsonl#{n}", body) for n, body in enumerate(laid)]
    out += [("openai/responses-stream-error-insufficient-quota.jsonl", jsonl_as_sse(root / "openai/responses-stream-error-insufficient-quota.jsonl", True)),
           ("responses/stream-structured-output-json-schema.sse", (root / "responses/stream-structured-output-json-schema.sse").read_bytes())]
    for path in sorted((root / "responses").glob("*.vcr.yaml")):
        for n, interaction in enumerate(_cassette(path)):
            body = interaction["response"].get("body")
            if isinstance(body, dict) and isinstance(body.get("string"), str):
                out.append((f"responses/{path.name}#{n}", body["string"].encode()))
    return out


def documents(root: Path) -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted((root / "responses").glob("*.vcr.yaml")):
        for n, interaction in enumerate(_cassette(path)):
            response = interaction["response"]
            if "parsed_body" in response:
                out.append((f"{path.name}#{n}", response["status"]["code"], response["parsed_body"]))
    return out


def requests(root: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{p.name}#{n}", i["request"]["parsed_body"]) for p in sorted((root / "responses").glob("*.vcr.yaml")) for n, i in enumerate(_cassette(p))]


def _events(sse: bytes) -> list[dict[str, Any]]:
    out = []
    for block in sse.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:"))
        if data:
            out.append(json.loads(data))
    return out


def _native(body: bytes, pieces: list[bytes]) -> tuple[bytes, NativeResponsesStream]:
    stream = NativeResponsesStream(PUBLIC)
    out = [stream.feed(piece) for piece in pieces] + [stream.flush()]
    return b"".join(out) + (stream.final_event or b""), stream


def test_every_fixture_is_covered(shared_fixtures: Path) -> None:
    names = {name.split("#")[0].split("/")[-1] for name, _ in streams(shared_fixtures)} | {name.split("#")[0] for name, _, _ in documents(shared_fixtures)}
    assert names >= {p.name for p in (shared_fixtures / "responses").iterdir()}


def test_native_pass_through_of_every_stream(shared_fixtures: Path) -> None:
    for name, body in streams(shared_fixtures):
        whole, stream = _native(body, [body])
        split, _ = _native(body, every_byte(body))
        assert whole == split, name
        recorded, relayed = _events(body), _events(whole)
        if stream.state.error is not None:  # the relay stops at the error event and ends it
            assert [e["type"] for e in relayed][-1] == "error" and stream.state.error.code == "insufficient_quota", name
            recorded = recorded[: len(relayed)]
        assert len(relayed) == len(recorded), name
        for was, now in zip(recorded, relayed):
            if isinstance(was.get("response"), dict):
                assert now["response"].pop("model") == PUBLIC
                was["response"].pop("model")
            assert now == was, name
        if stream.state.error is None:
            final = recorded[-1]["response"]
            usage = stream.state.usage
            assert usage is not None and stream.state.done, name
            assert usage.prompt_tokens == final["usage"]["input_tokens"] and usage.completion_tokens == final["usage"]["output_tokens"]
            assert usage.cached_tokens == final["usage"]["input_tokens_details"]["cached_tokens"]
            assert usage.reasoning_tokens == final["usage"]["output_tokens_details"]["reasoning_tokens"]
            assert stream.final_json is not None and stream.response_id == final["id"], name
            kept = json.loads(stream.final_json)  # what is stored: the recorded response, renamed
            assert kept.pop("model") == PUBLIC and kept == final, name


def _bridge(pieces: list[bytes]) -> tuple[bytes, dict[str, Any]]:
    decoder = ResponsesStreamDecoder()
    writer = ResponsesWriter(base_response({}, "resp_bridge", PUBLIC, 1700000000))
    out = [writer.opening()]
    chunks: list[Chunk] = []
    for piece in pieces:
        got = decoder.feed(piece)
        chunks += got
        out.append(writer.feed([c for c in got if c.error is None]))
    got = decoder.flush()
    chunks += got
    out.append(writer.feed(got))
    usage = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
    error = next((c.error for c in chunks if c.error is not None), None)
    if error is not None:
        out.append(writer.failure(error.code, error.message))
        return b"".join(out), {"status": "failed", "error": error.code}
    out.append(writer.close_items())
    doc = writer.final(usage)
    out.append(writer.terminal(doc))
    return b"".join(out), doc


def _summary(output: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(p.get("text", "") for i in output if i["type"] == "message" for p in i["content"])
    calls = [(i["name"], i["call_id"], json.loads(i["arguments"] or "{}")) for i in output if i["type"] == "function_call"]
    reasoning = "".join(p["text"] for i in output if i["type"] == "reasoning" for p in i["summary"])
    encrypted = [i.get("encrypted_content") for i in output if i["type"] == "reasoning" and i.get("encrypted_content")]
    return {"text": text, "calls": calls, "reasoning": reasoning, "encrypted": encrypted}


def _ids(doc: dict[str, Any]) -> Any:
    """The document without the ids the writer makes up."""
    if isinstance(doc, dict):
        return {k: _ids(v) for k, v in doc.items() if k not in ("id", "item_id")}
    if isinstance(doc, list):
        return [_ids(v) for v in doc]
    return doc


def test_bridge_rewrites_every_stream(shared_fixtures: Path) -> None:
    for name, body in streams(shared_fixtures):
        whole, doc = _bridge([body])
        split, again = _bridge(every_byte(body))
        assert _ids(_events(whole)) == _ids(_events(split)), name
        events = _events(whole)
        numbers = [e["sequence_number"] for e in events]
        assert numbers == list(range(len(events))), name
        recorded = _events(body)
        if doc.get("status") == "failed":
            assert [e["type"] for e in events][-2:] == ["error", "response.failed"] and doc["error"] == "insufficient_quota", name
            continue
        final = recorded[-1]["response"]
        hosted = {i["type"] for i in final["output"]} - {"message", "function_call", "reasoning"}
        want = _summary([i for i in final["output"] if i["type"] not in hosted])
        got = _summary(doc["output"])
        assert got["text"] == want["text"] and got["calls"] == want["calls"], name
        assert got["reasoning"] == want["reasoning"], name
        # Carried per item as each reasoning item's output_item.done had it (OpenAI re-encrypts
        # between .added, .done and the final response; the last event of the item is kept).
        done = [e["item"].get("encrypted_content") for e in recorded if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning"]
        assert got["encrypted"] == [c for c in done if c], name
        assert doc["usage"] == {k: final["usage"][k] for k in ("input_tokens", "output_tokens", "total_tokens")} | {
            "input_tokens_details": {"cached_tokens": final["usage"]["input_tokens_details"]["cached_tokens"]},
            "output_tokens_details": {"reasoning_tokens": final["usage"]["output_tokens_details"]["reasoning_tokens"]},
        }, name
        types = [e["type"] for e in events]
        assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"


def test_whole_answers_native_and_bridged(shared_fixtures: Path) -> None:
    adapter = OpenAIAdapter("https://api.openai.com/v1", "k", responses=True)
    for name, status, doc in documents(shared_fixtures):
        if status >= 400:  # the recorded refusal of an edited history, as the client gets it
            info = adapter.parse_error(status, {}, json.dumps(doc).encode())
            assert (info.status, info.type, info.param) == (400, "invalid_request_error", "input"), name
            assert "required following item" in info.message
            continue
        if doc.get("object") == "response.input_tokens":
            assert doc["input_tokens"] == 51
            continue
        writer = ResponsesWriter(base_response({}, "resp_bridge", PUBLIC), emit=False)
        writer.feed(chunks_from_response(doc))
        from edge.adapters.responses_wire import usage_from_responses

        usage = usage_from_responses(doc["usage"])
        bridged = writer.final(usage)
        hosted = {i["type"] for i in doc["output"]} - {"message", "function_call", "reasoning"}
        assert _summary(bridged["output"]) == _summary([i for i in doc["output"] if i["type"] not in hosted]), name
        assert bridged["usage"]["input_tokens_details"]["cached_tokens"] == doc["usage"]["input_tokens_details"]["cached_tokens"]
        assert bridged["usage"]["output_tokens_details"]["reasoning_tokens"] == doc["usage"]["output_tokens_details"]["reasoning_tokens"]


def test_recorded_requests_translate_to_every_chat_dialect(shared_fixtures: Path) -> None:
    seen_tool_loop = False
    for name, body in requests(shared_fixtures):
        items = input_items(body)
        if any(t.get("type") == "web_search" for t in body.get("tools") or []) or any(i.get("type") == "web_search_call" for i in items):
            with pytest.raises(BridgeError) as info:
                to_chat(body, items)
            assert "web_search" in str(info.value), name
            continue
        chat = to_chat(body, items)
        roles = [m["role"] for m in chat["messages"]]
        if body.get("instructions"):
            assert chat["messages"][0] == {"role": "system", "content": body["instructions"]}, name
        outputs = [i for i in items if i.get("type") == "function_call_output"]
        if outputs:  # a tool loop's second request: call and result paired by call_id
            seen_tool_loop = True
            calls = [c for m in chat["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
            results = [m for m in chat["messages"] if m["role"] == "tool"]
            assert [c["id"] for c in calls] == [r["tool_call_id"] for r in results] == [o["call_id"] for o in outputs], name
            assert roles.index("assistant") < roles.index("tool")
        if isinstance(body.get("text"), dict) and body["text"].get("format", {}).get("type") == "json_schema":
            assert chat["response_format"]["type"] == "json_schema" and chat["response_format"]["json_schema"]["schema"] == body["text"]["format"]["schema"]
        if body.get("reasoning", {}).get("effort"):
            assert chat["reasoning_effort"] == body["reasoning"]["effort"]
        for adapter in TRANSLATORS:
            request = adapter.chat_request(dict(chat, stream=True), "upstream-model", True)
            assert request.body and json.loads(request.body), (name, adapter.kind)
    assert seen_tool_loop


def test_native_opening_events_renamed_in_place_or_decoded() -> None:
    """The opening events are renamed in their bytes when the response's model is found once,
    decoded and encoded when it is not (a metadata value with the same name, spacing, a model
    named inside a string); the response id is read either way. The held-back final event and
    the stored JSON are one encoding, scrubbed."""
    stream = NativeResponsesStream(PUBLIC, lambda b: b.replace(b"s3cret", b"[redacted]"))
    created = b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_a","model":"up","instructions":"say \\"model\\":\\"up\\"","output":[]}}\n\n'
    progress = b'data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_a","model":"up","metadata":{"model":"up"}}}\n\n'
    spaced = b'data: {"type":"response.in_progress", "sequence_number": 2, "response": {"id": "resp_a", "model": "up"}}\n\n'
    done = b'data: {"type":"response.completed","sequence_number":3,"response":{"id":"resp_a","model":"up","output":[],"instructions":"s3cret","usage":{"input_tokens":1,"output_tokens":2}}}\n\n'
    out = stream.feed(created + progress + spaced + done)
    events = _events(out)
    assert [e["response"]["model"] for e in events] == [PUBLIC] * 3
    assert events[0]["response"]["instructions"] == 'say "model":"up"'
    assert events[1]["response"]["metadata"] == {"model": "up"}
    assert out.startswith(b"event: response.created\n") and stream.response_id == "resp_a"
    assert stream.final_event is not None and stream.final_json is not None
    final = _events(stream.final_event)[0]
    assert final["type"] == "response.completed" and final["sequence_number"] == 3
    assert final["response"] == json.loads(stream.final_json)
    assert final["response"]["model"] == PUBLIC and final["response"]["instructions"] == "[redacted]"


@pytest.mark.parametrize("framing", ["one line", "metadata names the model", "data on two lines", "spaced", "CRLF"])
def test_native_final_event_held_renamed_and_scrubbed(framing: str) -> None:
    """The held-back final event: renamed in its bytes when that is sure, decoded and encoded
    when it is not; either way the event, the stored JSON and the usage agree, and the event is
    framed as one SSE event."""
    response = {"id": "resp_f", "object": "response", "model": "up", "status": "completed", "instructions": "s3cret", "output": [], "usage": {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 1}}}
    if framing == "metadata names the model":
        response["metadata"] = {"model": "up"}
    data = json.dumps({"type": "response.completed", "sequence_number": 9, "response": response}, separators=(",", ":") if framing != "spaced" else None).encode()
    if framing == "data on two lines":
        data = data.replace(b',"output"', b'\ndata: ,"output"')
    raw = b"event: response.completed\ndata: " + data + b"\n\n"
    if framing == "CRLF":
        raw = raw.replace(b"\n", b"\r\n")
    stream = NativeResponsesStream(PUBLIC, lambda b: b.replace(b"s3cret", b"[redacted]"))
    assert stream.feed(raw) == b""  # held back for the sink
    assert stream.final_event is not None and stream.final_json is not None and stream.response_id == "resp_f"
    lines = stream.final_event.replace(b"\r\n", b"\n")  # the event line keeps the upstream's line end
    assert lines.count(b"\n\n") == 1 and lines.endswith(b"\n\n") and b"\r" not in lines
    event = _events(stream.final_event)[0]
    assert event["type"] == "response.completed" and event["sequence_number"] == 9
    assert event["response"] == json.loads(stream.final_json)
    want = dict(response, model=PUBLIC, instructions="[redacted]")
    assert event["response"] == want
    usage = stream.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens) == (7, 3, 2, 1)
    assert stream.state.done and stream.state.finish_reason == "stop"
