"""The mock provider's OpenAI Responses dialect: ``POST /v1/responses`` (plain and SSE) and
``POST /v1/responses/input_tokens``.

Same knobs and model names as the other dialects (dialects.py): the request is read through the
gateway's own Responses-to-chat translation (adapters/responses_bridge.py) into the OpenAI-shaped
dict the mock plans from, and the answer is written with adapters/responses_wire.py, so the
events follow the documented order with strictly increasing ``sequence_number``. The model
``tool`` calls a tool, and answers in text once the last input item is a
``function_call_output`` (a two-turn tool loop ends). ``reasoning.effort`` adds a reasoning item
with a summary and an ``encrypted_content``; ``error_mid_stream`` ends a stream with an ``error``
event and ``response.failed`` (as in shared/fixtures/openai/responses-stream-error-insufficient-quota.jsonl).
The mock keeps no responses: a ``previous_response_id`` is answered 400, as OpenAI answers an id
it does not know. Built-in tools (web_search, ...) and other non-function tools are accepted and never called.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.fastpath import jsonio

from ..responses_bridge import HOSTED_ITEMS, BridgeError, input_items, to_chat
from ..responses_wire import ResponsesWriter, base_response, new_id
from ..types import Chunk, ToolCallDelta, Usage
from . import replies
from .dialects import Plan, error_status, json_response, knob, pieces, plan, read_body, retry_headers, send_stream

__all__ = ["create", "input_tokens"]

_SIGNATURE = "ZW5jcnlwdGVkLW1vY2s="


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    kind = "rate_limit_error" if status == 429 else ("invalid_request_error" if status < 500 else "server_error")
    if status == 429 and code is None:
        code = "rate_limit_exceeded"
    return json_response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status, headers)


def _denied() -> web.Response:
    return _error(401, "Incorrect API key provided.", code="invalid_api_key")


async def _read(request: web.Request) -> tuple[dict[str, Any] | None, dict[str, Any] | None, web.Response | None]:
    """The Responses body and its chat form, or the error response."""
    body, failure = await read_body(request, "authorization", _denied, prefix="Bearer ")
    if failure is not None:
        return None, None, failure if failure.status != 400 else _error(400, "The request body must be a JSON object.")
    assert body is not None
    model = str(body.get("model", ""))
    status = error_status(body, model)
    if status is not None:
        text = f"The model '{model}' does not exist" if status == 404 else f"mock upstream error {status}"
        return None, None, _error(status, text, code="model_not_found" if status == 404 else None, headers=retry_headers(body))
    if body.get("previous_response_id"):
        return None, None, _error(400, f"Previous response with id '{body['previous_response_id']}' not found.", param="previous_response_id", code="previous_response_not_found")
    try:
        items = input_items(body)
        # Built-in and other tool kinds are accepted as OpenAI accepts them (Codex always sends
        # web_search and namespaces); the mock calls only function tools.
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        chat = to_chat(dict(body, tools=tools or None, max_tool_calls=None, prompt=None, conversation=None), [i for i in items if i.get("type") not in HOSTED_ITEMS])
    except BridgeError as exc:
        return None, None, _error(400, str(exc), param=exc.param)
    if model == "tool" and items and items[-1].get("type") == "function_call_output":
        chat["model"] = "echo"  # the tool answered: the turn ends in text
    return body, chat, None


async def create(request: web.Request) -> web.StreamResponse:
    body, chat, failure = await _read(request)
    if failure is not None:
        return failure
    assert body is not None and chat is not None
    model = str(body.get("model", ""))
    reasoning = body.get("reasoning")
    thinking = isinstance(reasoning, dict) and reasoning.get("effort") not in (None, "none", "minimal")
    p = plan(request, chat, str(chat["model"]), thinking)
    writer = ResponsesWriter(base_response(body, new_id("resp_"), model), emit=bool(body.get("stream")))
    usage = Usage(prompt_tokens=p.prompt_tokens, completion_tokens=p.completion_tokens, cached_tokens=p.cached_tokens, reasoning_tokens=4 if p.reasoning else 0) if p.usage else None
    steps = _chunks(p)
    if not body.get("stream"):
        writer.feed([c for step in steps for c in step])
        return json_response(writer.final(usage))
    frames = [writer.opening()] + [writer.feed(step) for step in steps]
    if knob(body, "error_mid_stream"):
        frames.append(writer.failure("server_error", "The mock failed mid-stream."))
    else:
        frames.append(writer.close_items())
        frames.append(writer.terminal(writer.final(usage)))
    return await send_stream(request, body, [f for f in frames if f], "text/event-stream; charset=utf-8")


def _chunks(p: Plan) -> list[list[Chunk]]:
    """The answer as the stream's steps: reasoning, text word by word, the tool calls, finish."""
    steps: list[list[Chunk]] = []
    if p.reasoning:
        steps.append([Chunk(reasoning=p.reasoning, reasoning_signature=_SIGNATURE)])
    if p.text:
        steps.extend([Chunk(content=piece)] for piece in pieces(p.text.split(" ")))
    for index, call in enumerate(p.tool_calls or ()):
        args = call["function"]["arguments"]
        steps.append([Chunk(tool_calls=[ToolCallDelta(index=index, id=call["id"], name=call["function"]["name"], arguments=args[: len(args) // 2])])])
        steps.append([Chunk(tool_calls=[ToolCallDelta(index=index, arguments=args[len(args) // 2 :])])])
    steps.append([Chunk(finish_reason="length" if p.finish == "length" else "stop")])
    return steps


async def input_tokens(request: web.Request) -> web.Response:
    body, chat, failure = await _read(request)
    if failure is not None:
        return failure
    assert chat is not None
    return web.Response(body=jsonio.dumps({"object": "response.input_tokens", "input_tokens": replies.prompt_tokens(chat)}), content_type="application/json")
