"""What the Anthropic, Gemini and Ollama mocks share: reading a request, planning the answer, and
writing a stream with the same knobs as the OpenAI mock (openai.py).

Each dialect's handler turns its native request into an OpenAI-shaped dict (messages with role and
text, tools as OpenAI functions, response_format, max_tokens, stop, the ``mock`` knobs), so the
answer is planned exactly as the OpenAI mock plans it (model names echo / tool / json / error, the
same reply words, tool calls and JSON samples), then rendered in the dialect's own shapes.

Knobs beyond the OpenAI mock's: ``cached_tokens`` (report this many prompt tokens as cache reads)
and ``error_mid_stream`` (streams: after the text, send the dialect's in-stream error instead of a
proper end). A model name ending in ``-missing`` answers 404 in the dialect's own error body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from . import replies
from .state import KNOBS, STATE

__all__ = ["Plan", "error_status", "plan", "read_body", "send_stream"]


@dataclass
class Plan:
    text: str | None
    words: list[str]
    tool_calls: list[dict[str, Any]] | None
    finish: str  # OpenAI vocabulary: stop, length, tool_calls
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning: str | None
    usage: bool  # False with the no_usage knob


async def read_body(request: web.Request, key_header: str, denied: Callable[[], web.Response], prefix: str = "") -> tuple[dict[str, Any] | None, web.Response | None]:
    """Count the request, check the dialect's key header, decode the JSON object."""
    state = request.app[STATE]
    state.requests += 1
    state.chat_requests += 1
    state.last_headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("authorization", "x-api-key", "x-goog-api-key")}
    state.last_headers["path_qs"] = request.path_qs
    key = request.app[KNOBS].api_key
    if key and request.headers.get(key_header) != prefix + key:
        return None, denied()
    raw = await request.read()
    state.recent = state.recent[-9:] + [{"path_qs": request.path_qs, "headers": state.last_headers, "body": raw.decode("utf-8", "replace")}]
    try:
        body = jsonio.loads(raw)
    except jsonio.JSONDecodeError:
        body = None
    state.last_request = body
    if not isinstance(body, dict):
        return None, web.Response(status=400, text="request body must be a JSON object")
    latency = replies.knob(body, "latency_ms", request.app[KNOBS].latency_ms)
    if latency:
        await asyncio.sleep(float(latency) / 1000.0)
    return body, None


def error_status(body: dict[str, Any], model: str) -> int | None:
    """The error status this request should get from the knobs or the model name, if any."""
    if model.endswith("-missing"):
        return 404
    status = replies.knob(body, "status", 500 if model == "error" else None)
    return status if isinstance(status, int) and status >= 400 else None


def plan(request: web.Request, openai_body: dict[str, Any], model: str, thinking: bool = False) -> Plan:
    """The answer the OpenAI mock would give to this (OpenAI-shaped) request."""
    state, knobs = request.app[STATE], request.app[KNOBS]
    seq = next(state.ids)
    tool_calls = None
    fmt = openai_body.get("response_format")
    if model == "tool":
        tool_calls, text, finish = replies.tool_calls(openai_body, str(seq)), None, "tool_calls"
        words = [tc["function"]["arguments"] for tc in tool_calls]
    elif model == "json" or (isinstance(fmt, dict) and fmt.get("type") != "text"):
        text, finish = replies.json_reply(openai_body), "stop"
        words = [text]
    else:
        words = replies.reply_words(openai_body, knobs)
        text, finish = " ".join(words), "stop"
        stops = openai_body.get("stop") or []
        cut = [i for i in (text.find(s) for s in stops if s) if i >= 0]
        if cut:
            text = text[: min(cut)].rstrip()
            words = text.split()
    limit = openai_body.get("max_tokens")
    if tool_calls is None and isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "length"
        text = " ".join(words)
    reasoning = "Thinking about the question." if thinking else None
    cached = replies.knob(openai_body, "cached_tokens", 0)
    prompt = replies.prompt_tokens(openai_body) + (cached if isinstance(cached, int) else 0)
    return Plan(text, words, tool_calls, finish, prompt, max(1, len(words)) + (4 if reasoning else 0), cached if isinstance(cached, int) else 0, reasoning, not replies.knob(openai_body, "no_usage"))


async def send_stream(
    request: web.Request,
    body: dict[str, Any],
    frames: list[bytes],
    content_type: str,
    *,
    paced: int | None = None,
    hostile: Callable[[web.StreamResponse, float], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Write frames with the chunk_delay_ms, fail_after and stall_after/stall_ms knobs, counting
    what the mock saw. A delay follows each of the first ``paced`` frames (all but the last by
    default: pacing stands for generation). ``hostile``, when given, writes the rest after the
    first frame instead (the OpenAI mock's hostile-upstream knobs)."""
    state, knobs = request.app[STATE], request.app[KNOBS]
    delay = float(replies.knob(body, "chunk_delay_ms", knobs.chunk_delay_ms) or 0) / 1000.0
    fail_after = replies.knob(body, "fail_after")
    stall_after = replies.knob(body, "stall_after")
    stall_ms = float(replies.knob(body, "stall_ms", 0) or 0)
    paced = len(frames) - 1 if paced is None else paced
    response = web.StreamResponse(headers={"content-type": content_type, "cache-control": "no-cache"})
    await response.prepare(request)
    state.streams_started += 1
    state.open_streams += 1
    completed = False
    try:
        if hostile is not None:
            await response.write(frames[0])
            await hostile(response, delay)
            return response
        for sent, data in enumerate(frames):
            if isinstance(fail_after, int) and sent >= fail_after:
                # Simulate an upstream that dies mid-stream: drop the TCP connection.
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(data)
            if sent + 1 == stall_after:
                await asyncio.sleep(stall_ms / 1000.0)  # an upstream that goes quiet mid-stream
            if delay and sent < paced:
                await asyncio.sleep(delay)
        completed = True
        await response.write_eof()
        state.streams_completed += 1
    finally:
        state.open_streams -= 1
        if not completed and fail_after is None:
            state.streams_aborted += 1
    return response


def knob(body: dict[str, Any], name: str, default: Any = None) -> Any:
    return replies.knob(body, name, default)


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=jsonio.dumps(doc), content_type="application/json", headers=headers)


def retry_headers(body: dict[str, Any]) -> dict[str, str]:
    retry_after = replies.knob(body, "retry_after")
    return {"retry-after": str(retry_after)} if retry_after is not None else {}


def pieces(words: list[str]) -> list[str]:
    """Reply words as stream deltas: a leading space on all but the first."""
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def halves(text: str) -> list[str]:
    return [text[: len(text) // 2], text[len(text) // 2 :]]
