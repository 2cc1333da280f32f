"""Calling upstreams, surface-agnostic (HTTP and gRPC share it).

``call_upstream`` runs a whole request/response exchange and ``open_stream`` starts a stream;
both hand each attempt to the plan executor (edge.routing.execute), which decides the order of
routes, retries, cooldowns, fallbacks and the deadline. A stream counts as started, and can no
longer move to another route, once an upstream answered 200: the caller sends nothing to its
client before that. A chat request is first held to what each route's provider honours
(edge.params.prepare_chat): routes that refuse a field leave the plan, and each route gets the
body it may have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edge.adapters._common import usage_dict
from edge.adapters.types import Adapter, ChatResult, Unsupported, UpstreamRequest, Usage
from edge.fastpath import jsonio

from .client import ClientError, Response
from .context import RequestContext, settle
from .errors import BadGateway, EdgeError, GatewayTimeout, InvalidRequest, UpstreamError
from .gateway import Gateway
from .params import prepare_chat
from .router import Resolution, Target
from .routing.checks import failed_check
from .routing.execute import Failure, execute

__all__ = ["RequestContext", "answer_chat", "call_upstream", "decode_usage", "escalated", "open_stream", "settle", "start_stream"]

BuildRequest = Callable[[Adapter, Target], UpstreamRequest]
ParseResponse = Callable[[Adapter, bytes], ChatResult]


def _build(target: Target, make: Callable[[Adapter], UpstreamRequest]) -> tuple[Adapter, UpstreamRequest]:
    adapter = target.provider.adapter
    try:
        return adapter, make(adapter)
    except Unsupported as exc:
        raise InvalidRequest(f"Provider '{target.provider.name}': {exc}", code="unsupported_operation") from None


def _timeout_failure(target: Target, seconds: float, what: str) -> Failure:
    return Failure(GatewayTimeout(f"Provider '{target.provider.name}' did not {what} within {seconds:.3g} s."), "timeout")


def _connection_failure(target: Target, exc: BaseException) -> Failure:
    # The exception text can name internal addresses; say what failed, not where.
    return Failure(BadGateway(f"Could not reach provider '{target.provider.name}' ({type(exc).__name__})."), "connection")


def call_upstream(gw: Gateway, plan: Resolution, ctx: RequestContext, build: BuildRequest, parse: ParseResponse) -> Awaitable[ChatResult]:
    """A whole request/response exchange; the first attempt that answers well wins.

    Plain functions returning the executor's coroutine (here and below) keep the chain of
    coroutine frames short: every resumption of a request walks the whole chain.
    """

    async def attempt(target: Target, timeout: float) -> ChatResult:
        adapter, request = _build(target, lambda a: build(a, target))
        provider = target.provider
        try:
            response = await provider.client.request(request.method, request.url, request.headers, request.body, timeout=timeout)
        except TimeoutError:
            raise _timeout_failure(target, timeout, "answer") from None
        except (ClientError, ValueError) as exc:
            raise _connection_failure(target, exc) from None
        # Every byte an upstream sent is scrubbed once, here, before anything parses it: the
        # answer then reaches every surface (HTTP, gRPC, the ledger) clean, and an error body
        # is scrubbed before an adapter cuts it to a snippet.
        status, data = response.status, gw.scrubber.bytes(response.body)
        if status >= 400:  # only an error's headers are read (Retry-After): decoded on demand
            raise Failure(UpstreamError(adapter.parse_error(status, response.headers, data), provider.name), status)
        try:
            return parse(adapter, data)
        except (ValueError, TypeError, KeyError):
            raise Failure(BadGateway(f"Provider '{provider.name}' returned a response that is not valid JSON for this endpoint.", code="upstream_invalid_response"), 502) from None

    return execute(gw, plan, ctx, attempt)


def open_stream(gw: Gateway, plan: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[tuple[Response, Target, Adapter]]:
    """Start an upstream chat stream; returns once one upstream answered 200."""
    try:
        plan, prepared = prepare_chat(gw, ctx, plan, body)
    except EdgeError as err:
        return _raise(err)

    def build(adapter: Adapter, target: Target) -> tuple[UpstreamRequest, Callable[[int, bytes], UpstreamRequest | None]]:
        sent = prepared(target)
        return adapter.chat_request(sent, target.upstream_model, True), lambda status, data: adapter.retry_request(sent, target.upstream_model, status, data)

    return start_stream(gw, plan, ctx, build)


StreamBuild = Callable[[Adapter, Target], tuple[UpstreamRequest, Callable[[int, bytes], UpstreamRequest | None] | None]]


def start_stream(gw: Gateway, plan: Resolution, ctx: RequestContext, build: StreamBuild) -> Awaitable[tuple[Response, Target, Adapter]]:
    """Start an upstream stream of any dialect: ``build`` gives each route's request (and the
    second form to try once when the route refuses it, or None)."""
    first_byte = gw.config.routing.first_byte_timeout_s

    async def attempt(target: Target, timeout: float) -> tuple[Response, Target, Adapter]:
        made: list[Callable[[int, bytes], UpstreamRequest | None] | None] = []

        def make(adapter: Adapter) -> UpstreamRequest:
            request, again = build(adapter, target)
            made.append(again)
            return request

        adapter, request = _build(target, make)
        wait = min(first_byte, timeout)
        response, status, data, headers = await _start(target, request, wait)
        data = gw.scrubber.bytes(data)  # an error body, before it is parsed (see call_upstream)
        again = made[0] if made else None
        retry = again(status, data) if response is None and again is not None else None
        if retry is not None:
            ctx.record.attempts += 1
            response, status, data, headers = await _start(target, retry, wait)
            data = gw.scrubber.bytes(data)
        if response is None:
            raise Failure(UpstreamError(adapter.parse_error(status, headers, data), target.provider.name), status)
        return response, target, adapter

    return execute(gw, plan, ctx, attempt)


async def _start(target: Target, request: UpstreamRequest, first_byte_s: float) -> tuple[Response | None, int, bytes, Any]:
    """Send a stream request; the open response, or the error status, body and headers."""
    provider = target.provider
    # Until the response starts, the first-byte bound applies; after it, the idle bound
    # (provider timeout_s) between chunks.
    try:
        response = await provider.client.stream(request.method, request.url, request.headers, request.body, first_byte_s=first_byte_s, idle_s=provider.config.timeout_s)
    except TimeoutError:
        raise _timeout_failure(target, first_byte_s, "start answering") from None
    except (ClientError, ValueError) as exc:
        raise _connection_failure(target, exc) from None
    if response.status < 400:
        return response, response.status, b"", None
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives with the result (bpo-42130), and a client gone must stop this request.
        async with asyncio.timeout(provider.config.connect_timeout_s):
            data = await response.read()
    except (TimeoutError, ClientError):
        data = b""
    finally:
        response.release()
    return None, response.status, data, response.headers


def answer_chat(gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[ChatResult]:
    """One plain answer; with escalation, the checked answer of `from` or the answer of `to`."""
    public = resolution.public_model

    def call(plan: Resolution) -> Awaitable[ChatResult]:
        try:
            plan, prepared = prepare_chat(gw, ctx, plan, body)
        except EdgeError as err:
            return _raise(err)
        return call_upstream(
            gw,
            plan,
            ctx,
            lambda adapter, target: adapter.chat_request(prepared(target), target.upstream_model, False),
            lambda adapter, data: adapter.parse_chat(data, public),
        )

    if resolution.escalation is None:
        return call(resolution)
    escalation = resolution.escalation
    return escalated(
        gw, ctx, resolution,
        lambda: call(escalation.source),
        lambda: call(escalation.target),
        lambda answer: failed_check(answer.document(), body, escalation.when),
        usage_dict,
    )


async def escalated(
    gw: Gateway,
    ctx: RequestContext,
    resolution: Resolution,
    first: Callable[[], Awaitable[ChatResult]],
    second: Callable[[], Awaitable[ChatResult]],
    failed: Callable[[ChatResult], str | None],
    usage_doc: Callable[[Usage], dict[str, Any]],
) -> ChatResult:
    """Escalation for any dialect: ``first`` (the `from` model's answer) unless it fails a
    check, else ``second`` (the `to` model's), whose document's usage then covers both calls.
    Each dialect gives its own reading of its answer (``failed``) and of usage (``usage_doc``,
    written into the second answer's document); the result's own ``usage`` stays the second
    call's, since the first is already on the request's account (settling adds the second)."""
    answer = await first()
    reason = failed(answer)
    if reason is None:
        return answer
    # The first answer was paid for: count it, then ask the stronger model.
    ctx.add_usage(gw, ctx.record.upstream_model or "", answer.usage)
    ctx.fallback_reason = f"escalated: {reason}"
    gw.metrics.fallback(resolution.public_model)
    better = await second()
    if ctx.usage is None or better.usage is None:
        return better
    doc = dict(better.document())
    doc["usage"] = usage_doc(ctx.usage + better.usage)
    return ChatResult(jsonio.dumps(doc), better.usage, better.finish_reason, doc)


async def _raise(err: EdgeError) -> Any:
    """A refusal found before the call, raised where the caller awaits the exchange (so it is
    recorded like any failed exchange)."""
    raise err


def decode_usage(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        usage = jsonio.loads(raw)
    except jsonio.JSONDecodeError:
        return None
    return usage if isinstance(usage, dict) else None
