"""The mock provider's Ollama dialect: ``POST /api/chat`` (NDJSON streams, ``stream`` default true).

Same knobs and model names as the OpenAI mock (openai.py, dialects.py);
shapes from shared/reference/wire-formats.md section 4.1. Like Ollama it rejects tool-call
``arguments`` that are not JSON objects, omits ``prompt_eval_count``/``eval_count`` when zero, and
answers errors as ``{"error": "<text>"}``; the ``error_mid_stream`` knob sends that line inside a
200 stream.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from .dialects import Plan, error_status, json_response, knob, pieces, plan, read_body, send_stream

__all__ = ["chat"]

CREATED_AT = "2026-01-01T00:00:00.000000Z"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": message}, status, headers)


def _as_openai(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    messages = []
    for message in body.get("messages") or []:
        for call in message.get("tool_calls") or []:
            if not isinstance((call.get("function") or {}).get("arguments"), dict):
                return None, "json: cannot unmarshal string into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments"
        messages.append({"role": message.get("role"), "content": message.get("content") or ""})
    if not messages:
        return None, "messages are required"
    options = body.get("options") or {}
    out: dict[str, Any] = {"messages": messages, "max_tokens": options.get("num_predict"), "stop": options.get("stop") or []}
    if body.get("tools"):
        out["tools"] = body["tools"]
    fmt = body.get("format")
    if isinstance(fmt, dict):
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt}}
    elif fmt == "json":
        out["response_format"] = {"type": "json_object"}
    if "mock" in body:
        out["mock"] = body["mock"]
    return out, None


async def chat(request: web.Request) -> web.StreamResponse:
    body, failure = await read_body(request, "authorization", lambda: _error(401, "unauthorized"), "Bearer ")
    if failure is not None:
        return failure if failure.status != 400 else _error(400, "invalid JSON body")
    assert body is not None
    model = str(body.get("model", ""))
    status = error_status(body, model)
    if status is not None:
        retry = knob(body, "retry_after")
        text = f"model '{model}' not found" if status == 404 else f"mock upstream error {status}"
        return _error(status, text, {"retry-after": str(retry)} if retry is not None else None)
    openai_body, problem = _as_openai(body)
    if problem is not None or openai_body is None:
        return _error(400, problem or "invalid request")
    think = body.get("think")
    p = plan(request, openai_body, model, bool(think) and think is not False)
    if body.get("stream") is False:
        message: dict[str, Any] = {"role": "assistant", "content": p.text or ""}
        if p.reasoning:
            message["thinking"] = p.reasoning
        if p.tool_calls:
            message["tool_calls"] = _calls(p)
        return json_response(_final(p, model, message))
    lines = []
    if p.reasoning:
        lines.append({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": "", "thinking": p.reasoning}, "done": False})
    if p.tool_calls:
        lines.append({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": "", "tool_calls": _calls(p)}, "done": False})
    else:
        lines.extend({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": piece}, "done": False} for piece in pieces((p.text or "").split(" ")))
    if knob(body, "error_mid_stream"):
        lines.append({"error": "an error was encountered while running the model: unexpected EOF"})
    else:
        lines.append(_final(p, model, {"role": "assistant", "content": ""}))
    return await send_stream(request, body, [jsonio.dumps(line) + b"\n" for line in lines], "application/x-ndjson")


def _calls(p: Plan) -> list[dict[str, Any]]:
    return [{"id": c["id"], "function": {"index": i, "name": c["function"]["name"], "arguments": jsonio.loads(c["function"]["arguments"])}} for i, c in enumerate(p.tool_calls or ())]


def _final(p: Plan, model: str, message: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"model": model, "created_at": CREATED_AT, "message": message, "done": True, "done_reason": "length" if p.finish == "length" else "stop", "total_duration": 1000000, "load_duration": 1000}
    if p.usage:
        # Ollama omits zero counts (omitempty): a fully cached prompt has no prompt_eval_count.
        if p.prompt_tokens - p.cached_tokens > 0:
            doc["prompt_eval_count"] = p.prompt_tokens - p.cached_tokens
        doc["eval_count"] = p.completion_tokens
    return doc
