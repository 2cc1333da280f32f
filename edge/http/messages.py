"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API as a client surface.

Shapes: shared/reference/wire-formats.md section 2. Gateway keys come as ``x-api-key`` (what
the Anthropic SDKs and Claude Code send with ANTHROPIC_API_KEY) or ``Authorization: Bearer``
(ANTHROPIC_AUTH_TOKEN). The rest is the shared pipeline: the router's plan (fitted to the
request by edge/messages/plan.py), admission, the executor, the relay, settle (endpoint
"messages"). Errors, here and in edge/http/middleware.py for this path, are Anthropic's
``{"type": "error", "error": {...}}`` (edge/messages/reply.py), with ``request-id``.

Streams go through the relay with ``MessagesSSESink``: the byte pass-through
(edge/messages/passthrough.py) for native routes, else the route's decoder and the Messages
encoder (edge/messages/encoder.py). While nothing was written for ``server.ping_interval_s``,
the sink writes a ``ping`` event (after message_start, as Anthropic does), so clients and
proxies with idle timeouts keep the connection.

count_tokens is exact where the provider counts (Anthropic's own endpoint, Gemini countTokens)
and otherwise the gateway's estimate of the translated prompt, marked ``x-edge-token-count:
estimated``; it never answers 0.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from edge.adapters.types import Adapter, ChatResult, UpstreamRequest
from edge.errors import EdgeError, GatewayTimeout, InvalidRequest
from edge.fastpath import jsonio

from ..context import settled_on_failure
from ..messages.encoder import PING, MessagesEventEncoder
from ..messages.passthrough import MessagesPassthrough
from ..messages.plan import Call, builder, keep, native, plan_call
from ..messages.reply import error_event, message_from_chat, message_id, usage_json
from ..messages.schema import CountTokensRequest, MessagesRequest
from ..proxy import RequestContext, call_upstream, escalated, settle, start_stream
from ..routing.checks import failed_message_check
from ..relay import relay
from ..transcode import DecodedStream
from ..types import StreamState, Transcoder
from .appkeys import CONTEXT, GATEWAY, REQUEST_ID
from .body import read_json
from .headers import admit_request, client_timeout, drop_params, response_headers
from .stream import sse_response
from .replies import json_response

__all__ = ["MessagesSSESink", "count_tokens", "gateway_authorization", "messages"]

COUNT_HEADER = "x-edge-token-count"


def gateway_authorization(request: web.Request) -> str | None:
    """The gateway key as an Authorization value: ``Authorization``, else ``x-api-key``."""
    found = request.headers.get("authorization")
    if found:
        return found
    key = request.headers.get("x-api-key")
    return f"Bearer {key}" if key else None


def _query(request: web.Request) -> str:
    # ?beta=true (the SDKs' beta namespace, Claude Code's every call) is passed on; nothing else.
    if not request.query_string:
        return ""
    beta = request.query.get("beta")
    return f"beta={beta}" if beta in ("true", "false") else ""


async def _read(request: web.Request, typed: type[Any], endpoint: str) -> tuple[Any, Call, RequestContext, Any]:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(gateway_authorization(request))
    checked, body = await read_json(request, typed, gw.max_body_bytes)
    resolution = gw.router.resolve(checked.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, endpoint, bool(body.get("stream")) and endpoint == "messages", timeout_s=client_timeout(request))
    ctx.drop_params = drop_params(request)
    request[CONTEXT] = ctx
    call = Call(body, await request.read(), request.headers, _query(request))
    await admit_request(request, gw, ctx, {}, body.get("messages"))
    return checked, call, ctx, resolution


async def messages(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    checked, call, ctx, resolution = await _read(request, MessagesRequest, "messages")
    if not checked.max_tokens:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    plan, prepared = await _fitted(gw, ctx, resolution, call)
    stream = bool(checked.stream)
    build = builder(ctx, call, prepared, stream)
    public = ctx.record.public_model
    if stream:
        return await _stream(request, gw, ctx, plan, call, build)

    def parse(adapter: Adapter, data: bytes) -> ChatResult:
        found = adapter.native_messages
        if found is not None:
            return found.parse_message(data, public)
        return message_from_chat(adapter.parse_chat(data, public), public, call.show_thinking)

    escalation = resolution.escalation
    if escalation is None:
        exchange = call_upstream(gw, plan, ctx, build, parse)
    else:
        # A plain answer is checked as chat's is (edge.routing.checks); a stream goes unchecked.
        async def stronger() -> ChatResult:
            fitted, fitted_bodies = plan_call(gw, ctx, escalation.target, call)
            return await call_upstream(gw, fitted, ctx, builder(ctx, call, fitted_bodies, False), parse)

        exchange = escalated(
            gw, ctx, resolution,
            lambda: call_upstream(gw, plan, ctx, build, parse),
            stronger,
            lambda answer: failed_message_check(answer.document(), call.body, escalation.when),
            usage_json,
        )
    result = await settled_on_failure(gw, ctx, exchange)
    ctx.record.status = 200
    cost = settle(gw, ctx, result.usage)
    return json_response(request, gw.scrubber.bytes(result.body), _headers(ctx, cost))


async def _fitted(gw: Any, ctx: RequestContext, resolution: Any, call: Call) -> Any:
    try:
        return plan_call(gw, ctx, resolution, call)
    except EdgeError as err:  # a refusal before any call: recorded like any failed request
        ctx.record.status, ctx.record.error_type = err.status, err.type
        settle(gw, ctx)
        raise


def _headers(ctx: RequestContext, cost: float | None = None) -> dict[str, str]:
    headers = response_headers(ctx, cost)
    headers["request-id"] = ctx.request_id
    return headers


class MessagesSSESink:
    """Anthropic Messages SSE to an aiohttp client; pings while the upstream is silent.

    The relay writes through the response's own write (no wrapper on the hot path). The pinger
    is a loop timer, not a task (a task per stream costs its creation and a wake-up to cancel
    it): once per interval it reads the transcoder's ``progress`` (upstream reads) and, when it
    did not move, writes a ping, after message_start.
    """

    def __init__(self, request: web.Request, headers: dict[str, str], encoder: MessagesEventEncoder | None, passthrough: MessagesPassthrough | None, ping_s: float) -> None:
        self._request = request
        self.response = sse_response(request, headers)
        self.write = self.response.write
        self._encoder = encoder
        self._passthrough = passthrough
        self._ping_s = ping_s
        self._timer: asyncio.TimerHandle | None = None
        self._seen = -1
        self._pinging: asyncio.Task[None] | None = None

    async def begin(self) -> None:
        await self.response.prepare(self._request)
        if self._ping_s > 0:
            self._timer = asyncio.get_running_loop().call_later(self._ping_s, self._tick)

    def _progress(self) -> int:
        found = self._encoder if self._encoder is not None else self._passthrough
        return found.progress if found is not None else 0

    def _tick(self) -> None:
        now = self._progress()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._ping_s, self._tick)
        if now != self._seen:
            self._seen = now
            return
        encoder, passthrough = self._encoder, self._passthrough
        if encoder is not None:
            data = (b"" if encoder.started else encoder.start(None)) + PING
        elif passthrough is not None and passthrough.started:  # the upstream's message_start comes first
            data = PING
        else:
            return
        if self._pinging is None or self._pinging.done():
            self._pinging = loop.create_task(self._ping(data))

    async def _ping(self, data: bytes) -> None:
        try:
            await self.response.write(data)
        except (ConnectionResetError, RuntimeError):
            return  # the client went away; the relay finds out on its next write

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pinging is not None:
            self._pinging.cancel()
            self._pinging = None

    async def end(self, state: StreamState, usage: Any) -> None:
        self.close()
        # The last events ride with the chunked framing's end: one write (one send).
        await self.response.write_eof(self._encoder.ending(usage) if self._encoder is not None else b"")

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        self.close()
        await self.response.write_eof(b"" if shown else error_event(failure))

    def deadline_error(self) -> EdgeError:
        return GatewayTimeout("The request's deadline passed while the answer was streaming.", code="deadline_exceeded")

    def cancelled(self) -> tuple[int, str | None, bool]:
        return 499, None, True


async def _stream(request: web.Request, gw: Any, ctx: RequestContext, plan: Any, call: Call, build: Any) -> web.StreamResponse:
    def made(adapter: Adapter, target: Any) -> tuple[UpstreamRequest, Any]:
        return build(adapter, target), None

    upstream, target, adapter = await settled_on_failure(gw, ctx, start_stream(gw, plan, ctx, made))
    public = ctx.record.public_model
    encoder: MessagesEventEncoder | None = None
    passthrough: MessagesPassthrough | None = None
    stream: Transcoder[bytes]
    if native(adapter):
        stream = passthrough = MessagesPassthrough(public, gw.scrubber.sse)
    else:
        encoder = MessagesEventEncoder(public, message_id(ctx.request_id), call.prompt_tokens, call.show_thinking, gw.scrubber.sse)
        stream = DecodedStream(adapter.stream_decoder(), encoder)
    sink = MessagesSSESink(request, _headers(ctx), encoder, passthrough, gw.config.server.ping_interval_s)
    try:
        await relay(gw, ctx, upstream, target.provider, stream, sink, call.prompt_tokens)
    finally:
        sink.close()
    return sink.response


async def count_tokens(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    _, call, ctx, resolution = await _read(request, CountTokensRequest, "messages.count_tokens")
    plan, prepared = await _fitted(gw, ctx, resolution, call)
    first = plan.stages[0].targets[0].provider.adapter if plan.stages and plan.stages[0].targets else None
    exact = first is not None and (native(first) or first.token_counter is not None)
    if not exact:
        count = call.prompt_tokens()
        ctx.record.status = 200
        settle(gw, ctx)
        return _count_response(ctx, count, estimated=True)
    exact_plan = keep(plan, lambda t: native(t.provider.adapter) or t.provider.adapter.token_counter is not None)

    def build(adapter: Adapter, target: Any) -> UpstreamRequest:
        found = adapter.native_messages
        if found is not None:
            return found.messages_request(call.raw, call.model, target.upstream_model, False, call.headers, call.query, count_tokens=True)
        counter = adapter.token_counter
        assert counter is not None and prepared is not None
        return counter.count_request(prepared(target), target.upstream_model)

    def parse(adapter: Adapter, data: bytes) -> ChatResult:
        counter = adapter.token_counter
        if counter is not None and adapter.native_messages is None:
            return ChatResult(jsonio.dumps({"input_tokens": counter.parse_count(data)}), None)
        doc = jsonio.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("input_tokens"), int):
            raise ValueError("count_tokens answered without input_tokens")
        return ChatResult(data, None)

    result = await settled_on_failure(gw, ctx, call_upstream(gw, exact_plan, ctx, build, parse))
    ctx.record.status = 200
    settle(gw, ctx)
    headers = _headers(ctx)
    headers[COUNT_HEADER] = "exact"
    return web.Response(body=result.body, content_type="application/json", headers=headers)


def _count_response(ctx: RequestContext, count: int, *, estimated: bool) -> web.Response:
    headers = _headers(ctx)
    headers[COUNT_HEADER] = "estimated" if estimated else "exact"
    return web.Response(body=jsonio.dumps({"input_tokens": max(1, count)}), content_type="application/json", headers=headers)
