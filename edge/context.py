"""Per-request state shared by every step, and settling the books when the request ends.

A RequestContext collects what happened (attempts, usage, cost, the deadline) and becomes one
UsageRecord: metrics at once, the ledger in batches. Both surfaces (HTTP, gRPC) use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from edge.adapters.types import Usage

from .accounting import AttemptInfo, UsageRecord
from .admission import charge
from .errors import EdgeError
from .tags import request_tags
from .gateway import Gateway

T = TypeVar("T")

__all__ = ["RequestContext", "admit", "admit_checked", "settle", "settled_on_failure"]


class RequestContext:
    __slots__ = ("request_id", "principal", "started", "record", "timeout_s", "deadline", "fallback_reason", "usage", "cost", "saved", "token_estimate", "limit_headers", "attempts", "drop_params", "on_record")

    def __init__(
        self,
        request_id: str,
        principal: Any,
        public_model: str,
        endpoint: str,
        stream: bool,
        surface: str = "http",
        timeout_s: float | None = None,
    ) -> None:
        self.request_id = request_id
        self.principal = principal
        self.started = time.monotonic()
        # The client may only shorten routing.timeout_s; the executor fixes the deadline.
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.fallback_reason: str | None = None
        self.usage: Usage | None = None
        self.cost: float | None = 0.0
        self.saved: float | None = 0.0  # what caching saved (edge.prices PriceTable.saved)
        self.token_estimate = 0  # what admission charged the token limit before the call
        self.limit_headers: dict[str, str] | None = None
        self.attempts: list[tuple[str, int | str, float, str | None]] = []
        # The client asked to drop the fields a route cannot honour (x-edge-drop-params).
        self.drop_params = False
        # Where the settled record goes instead of accounting (metrics and ledger): a batch row
        # writes its ledger row with its outcome, in one transaction (edge.batch.execute).
        self.on_record: Callable[[UsageRecord], None] | None = None
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
        return (time.monotonic() - self.started) * 1000.0

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def attempt(self, route: str, status: int | str, latency_ms: float, error: str | None = None) -> None:
        self.attempts.append((route, status, latency_ms, error))

    def add_usage(self, gw: Gateway, upstream_model: str, usage: Usage | None) -> None:
        """Count one answer's usage and cost (escalation adds two; their sum is what was spent)."""
        if usage is None:
            return
        cost = gw.prices.cost(upstream_model, usage)
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        saved = gw.prices.saved(upstream_model, usage)
        self.saved = None if saved is None or self.saved is None else self.saved + saved
        self.usage = usage if self.usage is None else self.usage + usage


async def admit(gw: Gateway, ctx: RequestContext, tags: dict[str, str] | None, messages: object, body_size: int) -> None:
    """Rate limits and budgets before any upstream call (429 when one says no)."""
    if not _admitted_now(gw, ctx, tags, messages, body_size):
        ctx.limit_headers = await gw.admission.admit(ctx.principal, ctx.token_estimate, tags) or None


def _admitted_now(gw: Gateway, ctx: RequestContext, tags: dict[str, str] | None, messages: object, body_size: int) -> bool:
    """Admission without an await when nothing remote is needed (edge.admission admit_now);
    False, having taken nothing, when the awaited admission must run."""
    ctx.record.tags = tags
    # Only a token limit needs the estimate (edge.admission.charge: O(1) in the body's text).
    ctx.token_estimate = charge(messages, body_size, ctx.principal.tpm)
    headers = gw.admission.admit_now(ctx.principal, ctx.token_estimate, tags)
    if headers is None:
        return False
    ctx.limit_headers = headers or None
    return True


async def admit_checked(gw: Gateway, ctx: RequestContext, *, tag_header: str | None, metadata: Any, messages: Any, body_size: int) -> None:
    """Model allow-list, tags, rate limits and budgets, for either surface; a refusal is
    recorded (one ledger row, no upstream call), then raised."""
    if gw.tracing is not None:
        gw.tracing.admitted(messages)  # the prompt, only when content capture is on
    try:
        ctx.principal.check_model(ctx.record.public_model)
        tags = request_tags(tag_header, metadata, ctx.principal.tags)
        # admit()'s body, not a call to it: a coroutine fewer on the path every request takes.
        if not _admitted_now(gw, ctx, tags, messages, body_size):
            ctx.limit_headers = await gw.admission.admit(ctx.principal, ctx.token_estimate, tags) or None
    except EdgeError as err:
        ctx.record.status, ctx.record.error_type = err.status, err.type
        settle(gw, ctx)
        raise


def _client_gone(ctx: RequestContext) -> None:
    ctx.record.status, ctx.record.client_disconnected = 499, True


async def settled_on_failure(gw: Gateway, ctx: RequestContext, exchange: Awaitable[T], on_cancel: Callable[[RequestContext], None] = _client_gone) -> T:
    """Await an upstream exchange. A failure or a cancellation is recorded (its status, one
    ledger row) and raised; success is left to the caller, which knows the usage to settle."""
    try:
        return await exchange
    except EdgeError as err:
        # Where an upstream's error becomes the client's (every surface, plain and before a
        # stream starts): its text loses every configured secret here, once.
        gw.scrubber.error(err)
        ctx.record.status, ctx.record.error_type = err.status, err.type
        settle(gw, ctx)
        raise
    except asyncio.CancelledError:
        on_cancel(ctx)  # the client went away (HTTP), or its deadline passed (gRPC decides)
        settle(gw, ctx)
        raise


def settle(gw: Gateway, ctx: RequestContext, usage: Usage | None = None, finish_reason: str | None = None) -> float | None:
    """Close the books: add the final answer's usage, then one record to metrics and ledger.

    Returns the request's cost in USD (None when a model involved has no known price).
    ``finish_reason`` (a stream's; a plain answer's is known already) goes to the trace only.
    """
    record = ctx.record
    ctx.add_usage(gw, record.upstream_model or "", usage)
    record.latency_ms = ctx.elapsed_ms()
    total = ctx.usage
    if total is not None:
        record.prompt_tokens, record.completion_tokens = total.prompt_tokens, total.completion_tokens
        record.cached_tokens, record.reasoning_tokens = total.cached_tokens, total.reasoning_tokens
        record.estimated = total.estimated
        record.cost_usd = ctx.cost
        hour = total.cache_write_1h_tokens
        record.cache_write_5m_tokens, record.cache_write_1h_tokens = total.cache_write_tokens - hour, hour
    if record.saved_usd is None:  # a response-cache hit set its own
        record.saved_usd = ctx.saved if total is not None else None
    if ctx.fallback_reason:
        record.fallback_reason = ctx.fallback_reason
    if len(ctx.attempts) > 1:  # one attempt is the row itself; more are listed
        scrub = gw.scrubber.error_text  # attempt errors are upstream error types, kept in the ledger
        record.attempt_log = [AttemptInfo(route=r, status=str(st), latency_ms=round(ms, 3), error=scrub(e) if e else e) for r, st, ms, e in ctx.attempts]
    gw.admission.settle(ctx.principal, ctx.token_estimate, total.total_tokens if total is not None else None, record.cost_usd, record.tags)
    if gw.tracing is not None:
        gw.tracing.settled(ctx, usage, finish_reason)
    if ctx.on_record is None:
        gw.accounting.record(record)
    else:
        ctx.on_record(record)
    return record.cost_usd if total is not None else None
