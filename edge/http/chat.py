"""POST /v1/chat/completions, per the OpenAI chat API: routing, escalation, the plain answer.

Streams are written by edge.http.stream. A model with ``escalate`` answers with its ``from``
model and, when that answer fails a check (edge.routing.checks), with its ``to`` model; the
client sees one answer whose usage covers both calls. Streamed requests to such a model are
checked only when the client opts into buffering (header ``x-edge-buffer: true``); otherwise they
stream from ``from`` unchecked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from edge.adapters.schema import ChatRequest
from edge.adapters.openai_compat import usage_to_openai
from edge.adapters.types import ChatResult, Usage
from edge.errors import EdgeError
from edge.fastpath import jsonio
from edge.gateway import Gateway
from edge.router import Resolution
from edge.routing.checks import failed_check

from ..proxy import RequestContext, call_upstream, settle
from .body import read_json
from .headers import admit_request, client_timeout, response_headers
from .keys import GATEWAY, REQUEST_ID
from .stream import replay_as_stream, stream_chat

__all__ = ["chat_completions"]

async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    chat, body = await read_json(request, ChatRequest, gw.max_body_bytes)
    resolution = gw.router.resolve(chat.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "chat", bool(chat.stream), timeout_s=client_timeout(request))
    await admit_request(request, gw, ctx, body, body.get("messages"))
    buffered = resolution.escalation is not None and request.headers.get("x-edge-buffer", "").lower() in ("1", "true", "yes")
    if chat.stream and not buffered:
        return await stream_chat(request, gw, ctx, chat, body, resolution)
    status = 500
    try:
        result = await _answer(gw, resolution, ctx, body)
        status = 200
    except EdgeError as err:
        status = err.status
        ctx.record.error_type = err.type
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away; aiohttp cancelled us, which closed the upstream
        raise
    finally:
        ctx.record.status = status
        if status != 200:
            settle(gw, ctx)
    cost = settle(gw, ctx, result.usage)
    headers = response_headers(ctx, cost)
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return await replay_as_stream(request, result.body, include_usage, headers)
    return web.Response(body=result.body, content_type="application/json", headers=headers)


async def _answer(gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> ChatResult:
    """One plain answer; with escalation, the checked answer of `from` or the answer of `to`."""
    public = resolution.public_model

    def call(plan: Resolution) -> Any:
        return call_upstream(
            gw,
            plan,
            ctx,
            lambda adapter, target: adapter.chat_request(body, target.upstream_model, False),
            lambda adapter, data: adapter.parse_chat(data, public),
        )

    escalation = resolution.escalation
    if escalation is None:
        return await call(resolution)
    first = await call(escalation.source)
    failed = failed_check(jsonio.loads(first.body), body, escalation.when)
    if failed is None:
        return first
    # The first answer was paid for: count it, then ask the stronger model.
    ctx.add_usage(gw, ctx.record.upstream_model or "", first.usage)
    ctx.fallback_reason = f"escalated: {failed}"
    gw.metrics.fallback(public)
    second = await call(escalation.target)
    if ctx.usage is None or second.usage is None:
        return second
    doc = jsonio.loads(second.body)
    both = ctx.usage
    doc["usage"] = usage_to_openai(Usage(
        both.prompt_tokens + second.usage.prompt_tokens,
        both.completion_tokens + second.usage.completion_tokens,
        both.cached_tokens + second.usage.cached_tokens,
        both.reasoning_tokens + second.usage.reasoning_tokens,
    ))
    return ChatResult(jsonio.dumps(doc), second.usage, second.finish_reason)
