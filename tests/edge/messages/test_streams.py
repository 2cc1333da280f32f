"""The two Messages stream paths on recorded traffic, cut at every byte and at random.

- The pass-through (edge/messages/passthrough.py) on every recorded Anthropic stream: the output
  is the input byte for byte but for message_start's model, however the reads split it, and the
  usage (cache writes and reads apart), stop reason and end are read as they pass.
- The bridge encoder (edge/messages/encoder.py) after the OpenAI, Gemini and Ollama decoders on
  their recorded streams: Anthropic's event order, and what the Anthropic SDK's own accumulator
  makes of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from edge.adapters import build_adapter
from edge.adapters.types import Usage
from edge.messages.encoder import MessagesEventEncoder
from edge.messages.passthrough import MessagesPassthrough
from edge.transcode import DecodedStream
from tests.adapters.replay_support import every_byte, jsonl_as_sse, random_pieces
from tests.edge.http.messages_support import check_order, events

ROOT = Path(__file__).resolve().parents[3]
LOCAL = ROOT / "tests" / "fixtures" / "streams"


def _anthropic_streams(shared: Path) -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted((shared / "anthropic").glob("*.sse"))]
    out += [(p.name, jsonl_as_sse(p, True)) for p in sorted((shared / "anthropic").glob("*.jsonl"))]
    out += [(p.name, p.read_bytes()) for p in sorted((LOCAL / "anthropic").glob("*.sse"))]
    return out


def _run(pieces: list[bytes]) -> tuple[bytes, MessagesPassthrough]:
    stream = MessagesPassthrough("public-name")
    out = [stream.feed(p) for p in pieces] + [stream.flush()]
    stream.final()
    return b"".join(out), stream


@pytest.mark.shared_fixtures
def test_passthrough_keeps_the_bytes_and_reads_the_usage(shared_fixtures: Path) -> None:
    for name, body in _anthropic_streams(shared_fixtures):
        whole, stream = _run([body])
        start = json.loads(body.split(b"data:", 1)[1].split(b"\n", 1)[0])
        model = start["message"]["model"]
        assert whole != body and whole.replace(b'"model":"public-name"', b'"model":' + json.dumps(model).encode(), 1) == body, name
        state = stream.state
        if b"message_stop" in body:
            assert state.done and state.finish_reason is not None and state.usage is not None and not state.usage.estimated, name
            last = [json.loads(line[5:]) for line in body.splitlines() if line.startswith(b"data:") and b'"message_delta"' in line][-1]
            usage = {**start["message"]["usage"], **{k: v for k, v in last["usage"].items() if v is not None}}
            assert state.usage.cached_tokens == (usage.get("cache_read_input_tokens") or 0), name
            assert state.usage.cache_write_tokens == (usage.get("cache_creation_input_tokens") or 0), name
            assert state.usage.prompt_tokens == usage["input_tokens"] + state.usage.cached_tokens + state.usage.cache_write_tokens
            assert state.usage.completion_tokens == usage["output_tokens"]
        if b'"type":"error"' in body or b'"type": "error"' in body:
            assert state.error is not None and state.error_forwarded
        for pieces in (every_byte(body), random_pieces(body, 7)):
            split, again = _run(pieces)
            assert split == whole and again.state.usage == state.usage and again.state.done == state.done, name


def test_passthrough_cut_before_the_end_estimates_the_output() -> None:
    body = (LOCAL / "anthropic" / "thinking-text-parallel-tools.sse").read_bytes()
    cut = body[: body.index(b"event: message_delta")]
    _, stream = _run([cut])
    usage = stream.final().usage
    assert usage is not None and usage.estimated and usage.prompt_tokens > 0 and not stream.state.done


# -- the bridge encoder -----------------------------------------------------------------------


def _bridged(kind: str, body: bytes, pieces: list[bytes]) -> list[dict[str, Any]]:
    adapter = build_adapter(kind, "http://127.0.0.1:1", "k", None)
    encoder = MessagesEventEncoder("public-name", "msg_test", lambda: 11, True)
    stream = DecodedStream(adapter.stream_decoder(), encoder)
    out = [stream.feed(p) or b"" for p in pieces] + [stream.flush() or b""]
    state = stream.final()
    assert state.ended and state.error is None, kind
    out.append(stream.tail() or b"")
    out.append(encoder.ending(state.usage or Usage(prompt_tokens=11)))
    # Ids the gateway makes for providers that give none (Ollama) differ per run.
    return events(re.sub(rb"toolu_call_[0-9a-f]{24}", b"toolu_call_GENERATED", b"".join(out)))


BRIDGED = [
    ("openai", LOCAL / "openai" / "chat-parallel-tool-calls.sse"),
    ("openai", LOCAL / "openai" / "chat-text-usage.sse"),
    ("openai", LOCAL / "openai" / "crlf-comments-reasoning.sse"),
    ("gemini", LOCAL / "gemini" / "text-max-tokens-cached.sse"),
    ("ollama", LOCAL / "ollama" / "thinking-tool-call.ndjson"),
]


@pytest.mark.parametrize("kind,path", BRIDGED, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_encoder_order_and_the_sdk_accumulates_it(kind: str, path: Path) -> None:
    body = path.read_bytes()
    docs = _bridged(kind, body, [body])
    check_order(docs)
    split = _bridged(kind, body, every_byte(body))
    # Any split, the same events; message_start has the upstream's input count only when the
    # first read carried it.
    assert split[1:] == docs[1:] and split[0]["message"]["usage"]["input_tokens"] in (11, docs[0]["message"]["usage"]["input_tokens"])
    parse = TypeAdapter(RawMessageStreamEvent)
    message = None
    bufs: dict[int, bytes] = {}
    for doc in docs:
        message = accumulate_event(event=parse.validate_python(doc), current_snapshot=message, json_bufs=bufs)  # type: ignore[arg-type]
    assert message is not None and message.model == "public-name" and message.stop_reason is not None
    assert message.content, docs
    for block in message.content:
        if block.type == "tool_use":
            assert block.id.startswith("toolu_") and isinstance(block.input, dict)
    if kind == "openai" and "usage" in path.name:
        assert split[0]["message"]["usage"]["input_tokens"] == 11  # the gateway's count: the first read had none
        # message_delta carries the provider's final count, and the SDK's accumulator keeps it.
        assert docs[-2]["usage"] == {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 4}
        assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 4)


def test_an_estimated_ending_says_so() -> None:
    """No usage from the upstream: message_delta has the relay's estimate, marked as chat marks it."""
    encoder = MessagesEventEncoder("public-name", "msg_test", lambda: 11, True)
    encoder.encode([])
    delta = events(encoder.ending(Usage(prompt_tokens=11, completion_tokens=3, estimated=True)))[0]
    assert delta["usage"] == {"input_tokens": 11, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 3, "estimated": True}
    real = events(encoder.ending(Usage(prompt_tokens=30, completion_tokens=3, cached_tokens=20)))[0]
    assert real["usage"] == {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 3}
