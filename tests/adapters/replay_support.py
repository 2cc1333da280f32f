"""Replaying recorded provider bodies through an adapter and the egress encoder.

Readers for the recorded formats of shared/fixtures/SOURCES.md (JSON/line, raw SSE, SDK exchange,
httprr), a ``replay`` that feeds a body in given pieces and returns the OpenAI SSE the client would
get, and ``summarize`` that reads that SSE back the way the openai SDK does.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.adapters.types import UpstreamErrorInfo, Usage
from edge.egress import OpenAIChunkEncoder
from edge.errors import UpstreamError, error_event
from edge.transcode import DecodedStream

GENERATED_ID = re.compile(r"call_[0-9a-f]{24}")


def jsonl_as_sse(path: Path, named_events: bool) -> bytes:
    """JSON/line -> the SSE body it was cut from (Anthropic event names equal the JSON type)."""
    out = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        head = b"event: " + json.loads(line)["type"].encode() + b"\n" if named_events else b""
        out.append(head + b"data: " + line + b"\n\n")
    return b"".join(out)


def exchanges(path: Path) -> list[tuple[dict[str, Any], int, dict[str, str], bytes]]:
    """anthropic-sdk-python inline snapshot -> (request, status, headers, body bytes)."""
    out = []
    for item in json.loads(path.read_text()):
        response = item["response"]
        body = response["body"]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        out.append((item["request"], response["status_code"], {k.lower(): v for k, v in response["headers"].items()}, raw))
    return out


def httprr(path: Path) -> list[tuple[bytes, int, dict[str, str], bytes]]:
    """langchaingo httprr trace -> (raw request, status, headers, de-chunked body)."""
    raw = path.read_bytes()
    magic = b"httprr trace v1\n"
    assert raw.startswith(magic), path
    pos, out = len(magic), []
    while pos < len(raw):
        nl = raw.index(b"\n", pos)
        req_len, resp_len = map(int, raw[pos:nl].split())
        pos = nl + 1
        request, response = raw[pos : pos + req_len], raw[pos + req_len : pos + req_len + resp_len]
        pos += req_len + resp_len
        head, _, body = response.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {k.strip().lower().decode(): v.strip().decode() for k, _, v in (line.partition(b":") for line in lines[1:]) if v}
        if headers.get("transfer-encoding") == "chunked":
            body = _dechunk(body)
        out.append((request, status, headers, body))
    return out


def _dechunk(body: bytes) -> bytes:
    out, i = [], 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[j + 2 : j + 2 + size])
        i = j + 2 + size + 2


def request_body(raw_request: bytes) -> dict[str, Any]:
    return json.loads(raw_request.partition(b"\r\n\r\n")[2] or raw_request.partition(b"\n\n")[2])


# -- replay ---------------------------------------------------------------------------------


def every_byte(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def random_pieces(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, 97)
        out.append(body[i : i + n])
        i += n
    return out


@dataclass
class Replayed:
    """What the relay would have known at the end of a replayed stream."""

    done: bool  # ended well: the provider's end marker or a finish, and no error
    error: UpstreamErrorInfo | None
    usage: Usage | None
    finish_reason: str | None
    chunks: int  # SSE events written
    text_bytes: int


def replay(decoder_factory: Callable[[], Any], pieces: Iterable[bytes], include_usage: bool = True) -> tuple[bytes, Replayed]:
    """The body through decoder and OpenAI encoder, ended as edge.relay ends a stream (the
    error event, or the usage chunk a client asked for; [DONE] is left out)."""
    stream = DecodedStream(decoder_factory(), OpenAIChunkEncoder("public-model", include_usage, "req_replay", created=1700000000))
    out = [stream.feed(piece) or b"" for piece in pieces]
    out.append(stream.flush() or b"")
    state = stream.final()
    if state.error is not None:
        out.append(error_event(UpstreamError(state.error, "replay")))
    elif state.ended:
        out.append(stream.tail() or b"")
    body = b"".join(out)
    result = Replayed(state.ended and state.error is None, state.error, state.usage, state.finish_reason, body.count(b"data: "), state.text_bytes)
    return GENERATED_ID.sub("call_GENERATED", body.decode()).encode(), result


def summarize(sse: bytes) -> dict[str, Any]:
    """Read OpenAI SSE back as a client would: text, reasoning, tool calls, finish, usage, error."""
    content, reasoning, refusal = [], [], []
    calls: dict[int, dict[str, str]] = {}
    finishes, usage, error, roles = [], None, None, []
    for block in sse.decode().split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        doc = json.loads(block[6:])
        assert "[DONE]" not in block
        if "error" in doc:
            error = doc["error"]
            continue
        assert doc["object"] == "chat.completion.chunk" and doc["model"] == "public-model"
        if doc.get("usage"):
            assert doc["choices"] == []
            usage = doc["usage"]
        for choice in doc["choices"]:
            delta = choice["delta"]
            if "role" in delta:
                roles.append(delta["role"])
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            refusal.append(delta.get("refusal") or "")
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                if "id" in tc:
                    assert not call["id"], "a tool call's id was sent twice"
                    call["id"], call["name"] = tc["id"], tc["function"]["name"]
                call["arguments"] += tc["function"].get("arguments") or ""
            if choice["finish_reason"]:
                assert delta == {}, "the finish chunk must have an empty delta"
                finishes.append(choice["finish_reason"])
    return {
        "roles": roles,
        "content": "".join(content),
        "reasoning": "".join(reasoning),
        "refusal": "".join(refusal),
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish": finishes,
        "usage": usage,
        "error": error,
    }
