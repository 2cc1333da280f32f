"""Streamed chat completions (SSE) per the OpenAI chat API.

Each upstream chunk is forwarded as it arrives through the fastpath rewriter (model shown as the
public name, the usage chunk only for clients that asked, role on the first chunk), then
``data: [DONE]``. Routing may move to another route or model only until an upstream answered;
after the first byte reached the client, a failure ends the stream with a final error event. A
client that disconnects closes the upstream at once (aiohttp cancels the handler) and the usage
so far is still recorded, estimated where the upstream never counted it. The request's deadline
bounds the whole stream.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from edge.adapters.openai_compat import usage_from_openai
from edge.adapters.schema import ChatRequest
from edge.adapters.types import Usage
from edge.egress import TranslatedStream
from edge.errors import BadGateway, EdgeError, GatewayTimeout, error_event
from edge.fastpath import jsonio, tokens
from edge.fastpath.reencode import OpenAIStreamRewriter
from edge.gateway import Gateway
from edge.router import Resolution

from ..client import ClientError, ReadTimeout, Response
from ..context import settled_on_failure
from ..proxy import RequestContext, decode_usage, open_stream, settle
from .headers import response_headers

__all__ = ["replay_as_stream", "stream_chat"]

DONE = b"data: [DONE]\n\n"


def _sse_response(headers: dict[str, str]) -> web.StreamResponse:
    return web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            # Tell nginx-style proxies in front of us not to buffer the stream.
            "x-accel-buffering": "no",
            **headers,
        },
    )


async def stream_chat(request: web.Request, gw: Gateway, ctx: RequestContext, chat: ChatRequest, body: dict[str, Any], plan: Resolution) -> web.StreamResponse:
    record = ctx.record
    upstream, target, adapter = await settled_on_failure(gw, ctx, open_stream(gw, plan, ctx, body))

    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    rewriter: Any
    if adapter.passthrough:
        rewriter = OpenAIStreamRewriter(record.public_model, include_usage)
    else:
        # Translating adapters decode the provider's stream into normalized chunks, which
        # egress encodes as OpenAI chunks; same feed/flush surface and state as the rewriter.
        rewriter = TranslatedStream(adapter.stream_decoder(), record.public_model, include_usage, ctx.request_id)
    response = _sse_response(response_headers(ctx))
    completed = False
    record.status = 200
    try:
        await response.prepare(request)
        _nodelay(request)
        failure: EdgeError | None = None
        timer = asyncio.timeout(max(0.0, ctx.remaining()))
        try:
            async with timer:
                failure = await _pump(upstream, rewriter, response, ctx, target.provider.name, target.provider.config.timeout_s)
        except TimeoutError:
            if not timer.expired():
                raise
            failure = GatewayTimeout("The request's deadline passed while the answer was streaming.", code="deadline_exceeded")
        if failure is None and not rewriter.done and rewriter.finish_reason is None and rewriter.error is None:
            failure = BadGateway(f"Provider '{target.provider.name}' ended the stream before it finished.", code="upstream_stream_error")
        if failure is not None:
            record.status, record.error_type = failure.status, failure.type
            gw.metrics.upstream_error(target.provider.name, "stream")
            await response.write(error_event(failure))
        elif rewriter.error is not None:
            record.status, record.error_type = 502, "upstream_stream_error"
        else:
            await response.write(DONE)
        await response.write_eof()
        completed = failure is None
    except ConnectionResetError:
        record.status, record.client_disconnected = 499, True
    except asyncio.CancelledError:
        record.status, record.client_disconnected = 499, True
        raise
    finally:
        # A finished upstream goes back to the pool; anything else is closed at once, which is
        # what stops a provider from generating (and billing) tokens nobody will read.
        if completed:
            upstream.release()
        else:
            upstream.close()
        settle(gw, ctx, _stream_usage(rewriter, body))
    return response


async def _pump(upstream: Response, rewriter: Any, response: web.StreamResponse, ctx: RequestContext, provider: str, idle_s: float) -> EdgeError | None:
    """Forward chunks until the upstream ends; returns the upstream failure, if any."""
    record = ctx.record
    read = upstream.read_chunk
    while True:
        # Only reading the upstream is guarded here; a failed write to our client raises
        # ConnectionResetError straight to the caller, so the two are never confused.
        try:
            data = await read()
        except ReadTimeout:
            return GatewayTimeout(f"Provider '{provider}' sent nothing for {idle_s:g} s.")
        except ClientError:
            return BadGateway(f"Provider '{provider}' broke off the stream.", code="upstream_stream_error")
        if not data:
            break
        try:
            out = rewriter.feed(data)
        except ValueError as exc:  # an oversized SSE event (fastpath SSEError)
            return BadGateway(f"Provider '{provider}' sent an invalid stream: {exc}", code="upstream_stream_error")
        if rewriter.malformed:
            if out:
                await response.write(out)  # what came before the broken chunk is good
            return BadGateway(f"Provider '{provider}' sent a stream chunk that is not valid JSON.", code="upstream_stream_error")
        if out:
            if record.ttft_ms is None:
                record.ttft_ms = ctx.elapsed_ms()
            await response.write(out)
    out = rewriter.flush()
    if out:
        await response.write(out)
    if rewriter.malformed:  # e.g. half an event left when the upstream cut the stream
        return BadGateway(f"Provider '{provider}' sent a stream chunk that is not valid JSON.", code="upstream_stream_error")
    return None


def _stream_usage(rewriter: Any, body: dict[str, Any]) -> Usage:
    usage = usage_from_openai(decode_usage(rewriter.usage))
    if usage is not None:
        return usage
    # The upstream never reported usage (cut stream, or a server that counts nothing): estimate,
    # and mark the record so the ledger tells the two apart.
    messages = body.get("messages")
    prompt = tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0
    return Usage(prompt_tokens=prompt, completion_tokens=tokens.estimate_tokens_from_bytes(rewriter.text_bytes), estimated=True)


async def replay_as_stream(request: web.Request, completion: bytes, include_usage: bool, headers: dict[str, str]) -> web.StreamResponse:
    """Send a finished chat.completion as an OpenAI stream (buffered escalation)."""
    doc = jsonio.loads(completion)
    base = {"id": doc.get("id"), "object": "chat.completion.chunk", "created": doc.get("created"), "model": doc.get("model")}
    frames = []
    for choice in doc.get("choices") or []:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        for key in ("refusal", "reasoning_content"):
            if message.get(key):
                delta[key] = message[key]
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
        frames.append(dict(base, choices=[{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]))
        frames.append(dict(base, choices=[{"index": choice.get("index", 0), "delta": {}, "finish_reason": choice.get("finish_reason")}]))
    if include_usage and doc.get("usage"):
        frames.append(dict(base, choices=[], usage=doc["usage"]))
    response = _sse_response(headers)
    await response.prepare(request)
    await response.write(b"".join(b"data: " + jsonio.dumps(f) + b"\n\n" for f in frames) + DONE)
    await response.write_eof()
    return response


def _nodelay(request: web.Request) -> None:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
