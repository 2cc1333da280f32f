"""POST /v1/chat/completions: plain and streamed (SSE), per the OpenAI chat API.

Streams: each upstream chunk is forwarded as it arrives through the fastpath rewriter (model
shown as the public name, the usage chunk only for clients that asked, role on the first chunk),
then ``data: [DONE]``. A failure after the first byte ends the stream with a final error event.
A client that disconnects closes the upstream at once (aiohttp cancels the handler) and the
usage so far is still recorded, estimated where the upstream never counted it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiohttp
from aiohttp import web

from edge.adapters.openai_compat import usage_from_openai
from edge.adapters.schema import ChatRequest
from edge.adapters.types import Usage
from edge.errors import BadGateway, EdgeError, GatewayTimeout, error_event
from edge.fastpath import tokens
from edge.fastpath.reencode import OpenAIStreamRewriter
from edge.gateway import Gateway

from ..proxy import RequestContext, call_upstream, decode_usage, open_stream, settle
from .body import read_json
from .keys import GATEWAY, REQUEST_ID

__all__ = ["chat_completions"]

log = logging.getLogger("edge.http")

DONE = b"data: [DONE]\n\n"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    chat, body = await read_json(request, ChatRequest, gw.max_body_bytes)
    resolution = gw.router.resolve(chat.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "chat", bool(chat.stream))
    targets = resolution.ordered(gw.router.rng)
    if chat.stream:
        return await _stream(request, gw, ctx, chat, body, targets)
    status = 500
    try:
        result = await call_upstream(
            gw,
            targets,
            ctx,
            lambda adapter, target: adapter.chat_request(body, target.upstream_model, False),
            lambda adapter, data: adapter.parse_chat(data, resolution.public_model),
        )
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
            settle(gw, ctx, None)
    cost = settle(gw, ctx, result.usage)
    headers = {"x-edge-route": f"{ctx.record.provider}/{ctx.record.upstream_model}"}
    if cost is not None:
        headers["x-edge-cost-usd"] = f"{cost:.8f}"
    return web.Response(body=result.body, content_type="application/json", headers=headers)


async def _stream(request: web.Request, gw: Gateway, ctx: RequestContext, chat: ChatRequest, body: dict[str, Any], targets: Any) -> web.StreamResponse:
    record = ctx.record
    try:
        upstream, target, adapter = await open_stream(gw, targets, ctx, body)
    except EdgeError as err:
        record.status, record.error_type = err.status, err.type
        settle(gw, ctx, None)
        raise
    except asyncio.CancelledError:
        record.status = 499
        settle(gw, ctx, None)
        raise

    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    rewriter: Any
    if adapter.passthrough:
        rewriter = OpenAIStreamRewriter(ctx.record.public_model, include_usage)
    else:
        # Translating adapters decode the provider's stream into normalized chunks, which
        # egress encodes as OpenAI chunks; same feed/flush surface and state as the rewriter.
        from edge.egress import TranslatedStream

        rewriter = TranslatedStream(adapter.stream_decoder(), ctx.record.public_model, include_usage, ctx.request_id)
    response = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": ctx.request_id,
            "x-edge-route": target.route,
            # Tell nginx-style proxies in front of us not to buffer the stream.
            "x-accel-buffering": "no",
        },
    )
    completed = False
    record.status = 200
    try:
        await response.prepare(request)
        _nodelay(request)
        failure: EdgeError | None = None
        chunks = upstream.content.iter_any()
        while True:
            # Only reading the upstream is guarded here; a failed write to our client raises
            # ConnectionResetError straight to the outer handler, so the two are never confused.
            try:
                data = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                failure = GatewayTimeout(f"Provider '{target.provider.name}' sent nothing for {target.provider.config.timeout_s:g} s.")
                break
            except aiohttp.ClientError:
                failure = BadGateway(f"Provider '{target.provider.name}' broke off the stream.", code="upstream_stream_error")
                break
            try:
                out = rewriter.feed(data)
            except ValueError as exc:  # an oversized SSE event (fastpath SSEError)
                failure = BadGateway(f"Provider '{target.provider.name}' sent an invalid stream: {exc}", code="upstream_stream_error")
                break
            if out:
                if record.ttft_ms is None:
                    record.ttft_ms = ctx.elapsed_ms()
                await response.write(out)
        if failure is None:
            out = rewriter.flush()
            if out:
                await response.write(out)
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


def _stream_usage(rewriter: Any, body: dict[str, Any]) -> Usage:
    usage = usage_from_openai(decode_usage(rewriter.usage))
    if usage is not None:
        return usage
    # The upstream never reported usage (cut stream, or a server that counts nothing): estimate,
    # and mark the record so the ledger tells the two apart.
    messages = body.get("messages")
    prompt = tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0
    return Usage(prompt_tokens=prompt, completion_tokens=tokens.estimate_tokens_from_bytes(rewriter.text_bytes), estimated=True)


def _nodelay(request: web.Request) -> None:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
