"""The mock provider's Anthropic Messages dialect: ``POST /v1/messages``.

Same knobs and model names as the OpenAI mock (openai.py, dialects.py);
shapes from shared/reference/wire-formats.md section 2. Like the real API it requires
``max_tokens`` and ``anthropic-version``, checks ``x-api-key`` when the mock has a key, rejects a
``tool_result`` that answers no ``tool_use`` of the previous assistant turn (the error recorded in
shared/fixtures/anthropic/exchange-tool-use-then-400-invalid-request.json), and answers errors in
Anthropic's body (429 rate_limit_error, 529 overloaded_error, with retry-after).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from . import replies
from .dialects import Plan, error_status, halves, json_response, knob, pieces, plan, read_body, retry_headers, send_stream

__all__ = ["count_tokens", "messages"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json_response({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"}, status, headers)


def _as_openai(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The native request as the OpenAI mock's input, or an error message like the real API's."""
    messages: list[dict[str, Any]] = []
    previous_tool_uses: set[str] = set()
    for n, turn in enumerate(body.get("messages") or []):
        role, content = turn.get("role"), turn.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        uses = set()
        texts = []
        for m, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text", ""))
            elif kind == "tool_use":
                uses.add(block.get("id"))
                if not isinstance(block.get("input"), dict):
                    return None, f"messages.{n}.content.{m}.tool_use.input: Input should be a valid dictionary"
            elif kind == "tool_result" and block.get("tool_use_id") not in previous_tool_uses:
                return None, f"messages.{n}.content.{m}: unexpected `tool_use_id` found in `tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
        previous_tool_uses = uses if role == "assistant" else set()
        messages.append({"role": role, "content": " ".join(texts)})
    if not messages:
        return None, "messages: at least one message is required"
    # The model too: the knobs' by_model reads it (a primary fails while its fallback answers).
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages, "max_tokens": body.get("max_tokens"), "stop": body.get("stop_sequences") or []}
    if body.get("tools"):
        out["tools"] = [{"type": "function", "function": {"name": t.get("name"), "parameters": t.get("input_schema")}} for t in body["tools"]]
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.get("schema")}}
    if "mock" in body:
        out["mock"] = body["mock"]
    return out, None


async def _read(request: web.Request) -> tuple[dict[str, Any], str, web.StreamResponse | None]:
    """The request's body and model, or the error Anthropic answers first (key, body,
    anthropic-version, then the knobs' scripted status)."""
    body, failure = await read_body(request, "x-api-key", lambda: _error(401, "invalid x-api-key"))
    if failure is not None:
        return {}, "", failure if failure.status != 400 else _error(400, "request body must be a JSON object")
    assert body is not None
    if not request.headers.get("anthropic-version"):
        return body, "", _error(400, "anthropic-version: header is required")
    model = str(body.get("model", ""))
    status = error_status(body, model)
    if status is not None:
        return body, model, _error(status, f"mock upstream error {status}" if status != 404 else f"model: {model}", retry_headers(body))
    return body, model, None


async def messages(request: web.Request) -> web.StreamResponse:
    body, model, refusal = await _read(request)
    if refusal is not None:
        return refusal
    if not isinstance(body.get("max_tokens"), int):
        return _error(400, "max_tokens: Field required")
    openai_body, problem = _as_openai(body)
    if problem is not None or openai_body is None:
        return _error(400, problem or "invalid request")
    thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") in ("enabled", "adaptive")
    p = plan(request, openai_body, model, thinking)
    msg_id = f"msg_mock{p.prompt_tokens}{len(p.words)}"
    usage = {"input_tokens": p.prompt_tokens - p.cached_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": p.cached_tokens, "output_tokens": p.completion_tokens} if p.usage else {"input_tokens": 0, "output_tokens": 0}
    if not body.get("stream"):
        content: list[dict[str, Any]] = []
        if p.reasoning:
            content.append({"type": "thinking", "thinking": p.reasoning, "signature": "c2lnLW1vY2s="})
        if p.text is not None:
            content.append({"type": "text", "text": p.text})
        for call in p.tool_calls or ():
            content.append({"type": "tool_use", "id": "toolu_" + call["id"][5:], "name": call["function"]["name"], "input": jsonio.loads(call["function"]["arguments"])})
        return json_response({"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content, "stop_reason": _STOP[p.finish], "stop_sequence": None, "usage": usage})
    return await send_stream(request, body, _frames(body, p, msg_id, model, usage), "text/event-stream; charset=utf-8")


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages/count_tokens: the input tokens the same request would report."""
    body, model, refusal = await _read(request)
    if refusal is not None:
        return refusal
    openai_body, problem = _as_openai(body)
    if problem is not None or openai_body is None:
        return _error(400, problem or "invalid request")
    return json_response({"input_tokens": replies.prompt_tokens(openai_body)})


def _event(doc: dict[str, Any]) -> bytes:
    return b"event: " + doc["type"].encode() + b"\ndata: " + jsonio.dumps(doc) + b"\n\n"


def _frames(body: dict[str, Any], p: Plan, msg_id: str, model: str, usage: dict[str, Any]) -> list[bytes]:
    start_usage = dict(usage, output_tokens=1)
    frames = [_event({"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})]
    index = 0
    if p.reasoning:
        frames.append(_event({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
        frames.append(_event({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": p.reasoning}}))
        frames.append(_event({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "c2lnLW1vY2s="}}))
        frames.append(_event({"type": "content_block_stop", "index": index}))
        index += 1
    if p.text is not None:
        frames.append(_event({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
        frames.append(_event({"type": "ping"}))
        for piece in pieces(p.text.split(" ")) if p.text else []:
            frames.append(_event({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}))
        frames.append(_event({"type": "content_block_stop", "index": index}))
        index += 1
    if knob(body, "error_mid_stream"):
        frames.append(_event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        return frames
    for call in p.tool_calls or ():
        frames.append(_event({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": "toolu_" + call["id"][5:], "name": call["function"]["name"], "input": {}}}))
        for piece in [""] + halves(call["function"]["arguments"]):
            frames.append(_event({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}))
        frames.append(_event({"type": "content_block_stop", "index": index}))
        index += 1
    frames.append(_event({"type": "message_delta", "delta": {"stop_reason": _STOP[p.finish], "stop_sequence": None}, "usage": usage}))
    frames.append(_event({"type": "message_stop"}))
    return frames
