"""The mock's OpenAI dialect: POST /v1/chat/completions (plain and SSE), /v1/embeddings,
GET /v1/models, and the mock's own GET /mock/stats and POST /mock/reset.

Knobs and models: see the package docstring (adapters/mock/__init__.py). Wire format:
shared/reference/wire-formats.md section 1.
"""


from __future__ import annotations

import asyncio
import base64
import struct
import time
from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from . import replies
from .dialects import send_stream
from .state import KNOBS, MOCK_MODELS, STATE

__all__ = ["chat", "embeddings", "models", "reset", "stats"]

def _error(status: int, message: str, *, type: str, code: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    body = jsonio.dumps({"error": {"message": message, "type": type, "param": None, "code": code}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def _check_auth(request: web.Request) -> web.Response | None:
    key = request.app[KNOBS].api_key
    if key and request.headers.get("authorization") != "Bearer " + key:
        return _error(401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")
    return None


async def _read_json(request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
    state = request.app[STATE]
    state.requests += 1
    state.last_headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
    denied = _check_auth(request)
    if denied is not None:
        return None, denied
    try:
        body = jsonio.loads(await request.read())
    except jsonio.JSONDecodeError:
        return None, _error(400, "We could not parse the JSON body of your request.", type="invalid_request_error")
    if not isinstance(body, dict):
        return None, _error(400, "The request body must be a JSON object.", type="invalid_request_error")
    state.last_request = body
    return body, None


async def chat(request: web.Request) -> web.StreamResponse:
    body, failure = await _read_json(request)
    if failure is not None:
        return failure
    assert body is not None
    state, knobs = request.app[STATE], request.app[KNOBS]
    state.chat_requests += 1
    latency = replies.knob(body, "latency_ms", knobs.latency_ms)
    if latency:
        await asyncio.sleep(float(latency) / 1000.0)
    model = str(body.get("model", ""))
    status = 500 if model == "error" else replies.scripted_failure(body, state)
    if status is not None:
        headers = {}
        retry_after = replies.knob(body, "retry_after")
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        kind = "rate_limit_error" if status == 429 else ("invalid_request_error" if status < 500 else "server_error")
        code = "rate_limit_exceeded" if status == 429 else None
        text = f"mock upstream error {status}"
        if replies.knob(body, "echo_secrets"):
            text += f" (auth {request.headers.get('authorization')}, at http://{request.host}/v1)"
        return _error(status, text, type=kind, code=code, headers=headers)
    limit = replies.knob(body, "context_limit")
    if isinstance(limit, int) and replies.prompt_tokens(body) > limit:
        text = f"This model's maximum context length is {limit} tokens. However, your messages resulted in {replies.prompt_tokens(body)} tokens."
        return _error(400, text, type="invalid_request_error", code="context_length_exceeded")
    if replies.knob(body, "reject_stream_options") and "stream_options" in body:
        # Like a strict OpenAI-format server that does not know the field.
        return _error(400, "Unrecognized request argument supplied: stream_options", type="invalid_request_error")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return _error(400, "'messages' is required.", type="invalid_request_error")

    seq = next(state.ids)
    completion_id = f"chatcmpl-mock{seq}"
    created = int(time.time())
    tool_calls: list[dict[str, Any]] | None = None
    content: str | None
    reply = replies.knob(body, "reply")
    refusal = replies.knob(body, "refusal")
    if isinstance(reply, str):
        words = reply.split(" ") if reply else []
        content, finish = reply, "stop"
    elif model == "tool":
        tool_calls, content, finish = replies.tool_calls(body, str(seq)), None, "tool_calls"
        words = [tc["function"]["arguments"] for tc in tool_calls]
    elif model == "json" or (isinstance(body.get("response_format"), dict) and body["response_format"].get("type") != "text"):
        content, finish = replies.json_reply(body), "stop"
        words = [content]
    else:
        words = replies.reply_words(body, knobs)
        content, finish = " ".join(words), "stop"
    stops = body.get("stop")
    stops = [stops] if isinstance(stops, str) else stops if isinstance(stops, list) else []
    cut = min((content.find(t) for t in stops if isinstance(t, str) and t and content and t in content), default=-1)
    if cut >= 0 and content is not None:  # like a real server: stop before the sequence, not after
        content = content[:cut]
        words = content.split(" ") if content else []
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if tool_calls is None and isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "length"
        content = " ".join(words)
    if isinstance(refusal, str):
        content, words = None, refusal.split()
    usage = None if replies.knob(body, "no_usage") else replies.usage(replies.prompt_tokens(body), max(1, len(words)))

    if body.get("stream"):
        return await _stream(request, body, completion_id, created, model, words, tool_calls, finish, usage)
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal if isinstance(refusal, str) else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    doc: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "system_fingerprint": "fp_mock",
    }
    if usage is not None:
        doc["usage"] = usage
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def _stream(request: web.Request, body: dict[str, Any], completion_id: str, created: int, model: str, words: list[str], tool_calls: list[dict[str, Any]] | None, finish: str, usage: dict[str, Any] | None) -> web.StreamResponse:
    hostile = {k: replies.knob(body, k) for k in ("huge_line_mb", "invalid_json", "truncate", "endless")}
    include_usage = isinstance(body.get("stream_options"), dict) and bool(body["stream_options"].get("include_usage"))
    head = b'{"id":"' + completion_id.encode() + b'","object":"chat.completion.chunk","created":' + str(created).encode() + b',"model":' + jsonio.dumps(model) + b',"choices":'

    def frame(choices: bytes, usage_part: bytes = b"null") -> bytes:
        return b"data: " + head + choices + b',"usage":' + usage_part + b"}\n\n"

    def delta(d: dict[str, Any], reason: str | None = None) -> bytes:
        return b'[{"index":0,"delta":' + jsonio.dumps(d) + b',"logprobs":null,"finish_reason":' + jsonio.dumps(reason) + b"}]"

    frames = [frame(delta({"role": "assistant", "content": "" if tool_calls is None else None, "refusal": None}))]
    if tool_calls is None:
        key = "refusal" if isinstance(replies.knob(body, "refusal"), str) else "content"
        frames.extend(frame(delta({key: (w if i == 0 else " " + w)})) for i, w in enumerate(words))
    else:
        for index, call in enumerate(tool_calls):
            start = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
            frames.append(frame(delta({"tool_calls": [start]})))
            args = call["function"]["arguments"]
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                frames.append(frame(delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})))
    frames.append(frame(delta({}, finish)))
    # Pacing stands for generation: the usage chunk and [DONE] follow the finish at once, as
    # real providers send them (a delay there would bill the gateway for asking for usage).
    last_paced = len(frames) - 1
    if include_usage and usage is not None:
        frames.append(frame(b"[]", jsonio.dumps(usage)))
    frames.append(b"data: [DONE]\n\n")

    send_hostile = None
    if any(hostile.values()):

        async def send_hostile(response: web.StreamResponse, delay: float) -> None:
            await _hostile(response, hostile, frames, frame, delta, delay)

    return await send_stream(request, body, frames, "text/event-stream", paced=last_paced, hostile=send_hostile)


async def _hostile(response: web.StreamResponse, knobs: dict[str, Any], frames: list[bytes], frame: Any, delta: Any, delay: float) -> None:
    """The hostile-upstream knobs (see the module docstring); the first chunk was sent."""
    if knobs["huge_line_mb"]:
        piece = b"data: " + b"x" * (65536 - 6)
        for _ in range(int(float(knobs["huge_line_mb"]) * 16)):
            await response.write(piece)
            piece = b"x" * 65536
    if knobs["invalid_json"]:
        await response.write(b"data: {\"id\": not json at all\n\n")
    if knobs["truncate"]:
        await response.write(frames[1][: len(frames[1]) // 2])
        await response.write_eof()
        return
    while knobs["endless"]:
        await response.write(frame(delta({"content": " more"})))
        await asyncio.sleep(delay or 0.01)
    for data in frames[1:]:
        await response.write(data)
    await response.write_eof()


async def embeddings(request: web.Request) -> web.Response:
    body, failure = await _read_json(request)
    if failure is not None:
        return failure
    assert body is not None
    status = replies.knob(body, "status")
    if isinstance(status, int) and status >= 400:
        return _error(status, f"mock upstream error {status}", type="server_error" if status >= 500 else "invalid_request_error")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)) else (raw or [])
    dims = body.get("dimensions")
    if not isinstance(dims, int):
        dims = 8
    if not 0 < dims <= 65536:  # like a real server; a fuzzer's 8e10 would hang the mock
        return _error(400, f"dimensions must be 1..65536, got {dims}", type="invalid_request_error")
    data: list[dict[str, Any]] = []
    tokens = 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        tokens += max(1, len(text.split()))
        data.append({"object": "embedding", "index": index, "embedding": replies.vector(text, dims)})
    if body.get("encoding_format") == "base64":
        for row in data:
            row["embedding"] = base64.b64encode(struct.pack(f"<{dims}f", *row["embedding"])).decode()
    doc = {"object": "list", "model": body.get("model", ""), "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def models(request: web.Request) -> web.Response:
    created = 1700000000
    data = [{"id": m, "object": "model", "created": created, "owned_by": "mock"} for m in MOCK_MODELS]
    return web.Response(body=jsonio.dumps({"object": "list", "data": data}), content_type="application/json")


async def stats(request: web.Request) -> web.Response:
    s = request.app[STATE]
    doc = {
        "requests": s.requests,
        "chat_requests": s.chat_requests,
        "streams_started": s.streams_started,
        "streams_completed": s.streams_completed,
        "streams_aborted": s.streams_aborted,
        "open_streams": s.open_streams,
        "last_request": s.last_request,
        "last_headers": s.last_headers,
        "recent": s.recent,
    }
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.Response(status=204)
