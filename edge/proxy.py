"""Calling upstreams: one attempt per target in order, surface-agnostic (HTTP and gRPC share it).

An attempt that fails with a retryable condition (``routing.retry_on``: 429, 5xx, timeout,
connection) moves on to the next target; anything else, or the last failure, is raised as an
EdgeError. Streams may move on only before the first byte reached the client, which holds here
by construction: ``open_stream`` returns only once an upstream answered 200.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import aiohttp

from edge.adapters.openai_compat import OpenAIAdapter
from edge.adapters.types import Adapter, ChatResult, Unsupported, UpstreamRequest, Usage
from edge.fastpath import jsonio

from .accounting import UsageRecord
from .errors import BadGateway, EdgeError, GatewayTimeout, InvalidRequest, UpstreamError
from .gateway import Gateway
from .providers import Provider
from .router import Target

__all__ = ["RequestContext", "call_upstream", "decode_usage", "open_stream", "settle"]

BuildRequest = Callable[[Adapter, Target], UpstreamRequest]
ParseResponse = Callable[[Adapter, bytes], ChatResult]


class RequestContext:
    """Per-request facts every step adds to; becomes the UsageRecord at the end."""

    __slots__ = ("request_id", "principal", "started", "record")

    def __init__(self, request_id: str, principal: Any, public_model: str, endpoint: str, stream: bool, surface: str = "http") -> None:
        self.request_id = request_id
        self.principal = principal
        self.started = time.perf_counter()
        self.record = UsageRecord(
            request_id=request_id,
            ts=time.time(),
            public_model=public_model,
            status=0,
            key_id=principal.key_id,
            endpoint=endpoint,
            surface=surface,
            stream=stream,
        )

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


def _adapter(target: Target) -> Adapter:
    adapter = target.provider.adapter
    if adapter is None:
        raise InvalidRequest(
            f"Provider '{target.provider.name}' is of kind '{target.provider.kind}', which this gateway version cannot call yet.",
            param="model",
            code="provider_not_supported",
        )
    return adapter


def _retryable(gw: Gateway, condition: int | str) -> bool:
    retry_on = gw.config.routing.retry_on
    return condition in retry_on


async def call_upstream(gw: Gateway, targets: tuple[Target, ...], ctx: RequestContext, build: BuildRequest, parse: ParseResponse) -> ChatResult:
    """A whole request/response exchange; the first target that answers well wins."""
    error: EdgeError | None = None
    record = ctx.record
    for target in targets:
        adapter = _adapter(target)
        provider = target.provider
        try:
            request = build(adapter, target)
        except Unsupported as exc:
            raise InvalidRequest(f"Provider '{provider.name}': {exc}", code="unsupported_operation") from None
        record.attempts += 1
        record.provider, record.upstream_model = provider.name, target.upstream_model
        assert provider.session is not None
        try:
            async with provider.session.request(request.method, request.url, headers=request.headers, data=request.body, timeout=provider.timeout) as response:
                data = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError:
            error, condition = GatewayTimeout(f"Provider '{provider.name}' did not answer within {provider.config.timeout_s:g} s."), "timeout"
        except aiohttp.ClientError as exc:
            # The exception text can name internal addresses; say what failed, not where.
            error, condition = BadGateway(f"Could not reach provider '{provider.name}' ({type(exc).__name__})."), "connection"
        else:
            if status < 400:
                try:
                    return parse(adapter, data)
                except (ValueError, TypeError, KeyError):
                    error, condition = BadGateway(f"Provider '{provider.name}' returned a response that is not valid JSON for this endpoint.", code="upstream_invalid_response"), 502
            else:
                error, condition = UpstreamError(adapter.parse_error(status, headers, data), provider.name), status
        gw.metrics.upstream_error(provider.name, condition)
        if not _retryable(gw, condition):
            break
    assert error is not None
    raise error


class _Attempt(NamedTuple):
    """How one try to open a stream went: an open response, or why not."""

    response: aiohttp.ClientResponse | None
    error: EdgeError | None  # a transport failure (no HTTP answer)
    condition: int | str  # HTTP status, "timeout" or "connection": matched against retry_on
    body: bytes = b""
    headers: Mapping[str, str] | None = None


async def open_stream(gw: Gateway, targets: tuple[Target, ...], ctx: RequestContext, body: dict[str, Any]) -> tuple[aiohttp.ClientResponse, Target, Adapter]:
    """Start an upstream stream; returns once one target answered 200 (nothing sent to the client yet)."""
    error: EdgeError | None = None
    record = ctx.record
    for target in targets:
        adapter = _adapter(target)
        provider = target.provider
        try:
            request = adapter.chat_request(body, target.upstream_model, True)
        except Unsupported as exc:
            raise InvalidRequest(f"Provider '{provider.name}': {exc}", code="unsupported_operation") from None
        record.attempts += 1
        record.provider, record.upstream_model = provider.name, target.upstream_model
        attempt = await _start_stream(provider, request)
        if attempt.condition in (400, 422) and b"stream_options" in attempt.body and isinstance(adapter, OpenAIAdapter):
            # Some OpenAI-format servers reject stream_options (strict schemas, older builds).
            # Ask once more without it; usage is then estimated if the server sends none.
            record.attempts += 1
            attempt = await _start_stream(provider, adapter.chat_request(body, target.upstream_model, True, ask_usage=False))
        if attempt.response is not None:
            return attempt.response, target, adapter
        error = attempt.error or UpstreamError(adapter.parse_error(int(attempt.condition), attempt.headers, attempt.body), provider.name)
        gw.metrics.upstream_error(provider.name, attempt.condition)
        if not _retryable(gw, attempt.condition):
            break
    assert error is not None
    raise error


async def _start_stream(provider: Provider, request: UpstreamRequest) -> _Attempt:
    assert provider.session is not None
    try:
        response = await provider.session.request(request.method, request.url, headers=request.headers, data=request.body, timeout=provider.stream_timeout)
    except TimeoutError:
        return _Attempt(None, GatewayTimeout(f"Provider '{provider.name}' did not start answering within {provider.config.timeout_s:g} s."), "timeout")
    except aiohttp.ClientError as exc:
        return _Attempt(None, BadGateway(f"Could not reach provider '{provider.name}' ({type(exc).__name__})."), "connection")
    if response.status < 400:
        return _Attempt(response, None, response.status)
    try:
        data = await asyncio.wait_for(response.read(), provider.config.connect_timeout_s)
    except (TimeoutError, aiohttp.ClientError):
        data = b""
    finally:
        response.release()
    return _Attempt(None, None, response.status, data, response.headers)


def settle(gw: Gateway, ctx: RequestContext, usage: Usage | None) -> float | None:
    """Close the books on a request: latency, usage, cost; one record to metrics and ledger."""
    record = ctx.record
    record.latency_ms = ctx.elapsed_ms()
    cost = None
    if usage is not None:
        record.prompt_tokens, record.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        record.cached_tokens, record.reasoning_tokens = usage.cached_tokens, usage.reasoning_tokens
        record.estimated = usage.estimated
        cost = gw.prices.cost(record.upstream_model or "", usage)
        record.cost_usd = cost
    gw.accounting.record(record)
    return cost


def decode_usage(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        usage = jsonio.loads(raw)
    except jsonio.JSONDecodeError:
        return None
    return usage if isinstance(usage, dict) else None
