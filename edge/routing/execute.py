"""Executing a plan: routes in strategy order, retries, cooldowns, fallbacks, the deadline.

For each stage (the model's routes, then its fallbacks), routes are tried in the stage's strategy
order. A route in cooldown or at its concurrency cap is skipped. A failed attempt is retried on
the same route when its condition is in ``routing.retry_on``, the retry budget allows it and the
deadline leaves room for the backoff; otherwise the next route, then the next stage. Bad input
(a 400 that is not a context-length error) ends everything at once: no other model would take
it either. A context-length error skips to the next stage with a larger context window.

Panic (Envoy's panic threshold, at 100%): when every route of the plan was skipped because it
is cooling down, the request is not refused: it goes to the route whose cooldown started first,
as if that route were healthy, unless the model's config says ``panic: false`` (then 503
``cooling_down`` with Retry-After).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from edge.adapters.types import UpstreamErrorInfo

from ..context import RequestContext
from ..errors import EdgeError, GatewayTimeout, ServiceUnavailable, UpstreamError
from ..gateway import Gateway
from ..router import Resolution, Stage, Target
from .retry import backoff_delay
from .strategy import order

__all__ = ["Failure", "execute"]

T = TypeVar("T")

_CONTEXT_LENGTH = re.compile(r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|input is too long|exceeds? the (model'?s? )?(max|context)", re.I)


class Failure(Exception):
    """One failed attempt: the error to show if it is the last, and how routing should react."""

    def __init__(self, error: EdgeError, condition: int | str, route: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.condition = condition
        self.route = route
        info = error.info if isinstance(error, UpstreamError) else None
        self.context_length = info is not None and _is_context_length(info)

    @property
    def retry_after(self) -> float | None:
        return self.error.retry_after


def _is_context_length(info: UpstreamErrorInfo) -> bool:
    if info.status not in (400, 413, 422):
        return False
    return info.code in ("context_length_exceeded", "string_above_max_length") or bool(_CONTEXT_LENGTH.search(info.message))


Attempt = Callable[[Target, float], Awaitable[T]]


async def execute(gw: Gateway, plan: Resolution, ctx: RequestContext, attempt: Attempt[T], panic: bool = False) -> T:
    routing = gw.config.routing
    if ctx.deadline is None:
        timeout = routing.timeout_s if ctx.timeout_s is None else min(routing.timeout_s, ctx.timeout_s)
        ctx.deadline = ctx.started + timeout
    if not panic:
        gw.retry_budget.request(time.monotonic())
    cooling: list[Target] = []
    retry_on = gw.retry_on
    tracing = gw.tracing  # None when off; else a client span per attempt (edge.tracing)
    last: Failure | None = None
    failed_window: int | None = None
    record = ctx.record
    for index, stage in enumerate(plan.stages):
        if index > 0:
            if last is None:
                break
            if last.context_length:
                if not _larger(stage, failed_window):
                    continue
            elif not _falls_back(last, retry_on):
                break
            if ctx.fallback_reason is None:
                ctx.fallback_reason = f"{_reason(last)} on {last.route}"
            gw.metrics.fallback(plan.public_model)
        states = gw.routes
        targets = stage.targets if len(stage.targets) == 1 else order(
            stage.targets,
            stage.strategy,
            lambda t: t.weight,
            lambda t: states.get(t.route, t.max_concurrency).in_flight,
            lambda t: states.get(t.route, t.max_concurrency).cost(),
            gw.router.rng,
        )
        for target in targets:
            state = states.get(target.route, target.max_concurrency)
            now = time.monotonic()
            if state.full:
                last = last if last is not None and last.condition != "busy" else Failure(ServiceUnavailable(f"Every route of '{plan.public_model}' is at its concurrency limit.", retry_after=1.0), "busy", target.route)
                continue
            if not panic and not state.breaker.allow(now):
                cooling.append(target)
                if last is None or last.condition in ("busy", "cooldown"):
                    wait = max(1.0, state.breaker.retry_in(now))
                    last = Failure(ServiceUnavailable(f"Every route of '{plan.public_model}' is cooling down after repeated failures.", code="cooling_down", retry_after=wait), "cooldown", target.route)
                continue
            retry = 0
            while True:
                remaining = ctx.remaining()
                if remaining <= 0:
                    raise GatewayTimeout(f"The request's deadline passed after {record.attempts} upstream attempt(s).", code="deadline_exceeded")
                record.attempts += 1
                record.provider, record.upstream_model = target.provider.name, target.upstream_model
                state.in_flight += 1
                span = tracing.attempt(ctx, target, record.attempts, retry) if tracing is not None else None
                started = time.monotonic()
                try:
                    result = await attempt(target, min(target.provider.config.timeout_s, remaining))
                except Failure as failure:
                    finished = time.monotonic()
                    state.in_flight -= 1
                    if span is not None:
                        span.failed(failure.condition, failure.error)
                    ctx.attempt(target.route, failure.condition, (finished - started) * 1000, failure.error.type)
                    gw.metrics.upstream_error(target.provider.name, failure.condition)
                    failure.route = target.route
                    last = failure
                    if not _falls_back(failure, retry_on):
                        raise failure.error from None  # bad input: no route or model would take it
                    if failure.context_length:
                        failed_window = stage.context_window
                        break
                    hint = failure.retry_after if routing.honor_retry_after else None
                    if (
                        failure.condition in retry_on
                        and retry < routing.retries
                        # An upstream that asks for a long wait is not retried here: the next
                        # route, a fallback or the client (who gets the Retry-After) goes on.
                        and (hint is None or hint <= routing.max_retry_wait_s)
                        and not state.breaker.retry_in(finished)  # opened meanwhile: move on
                        and gw.retry_budget.try_spend(finished)
                    ):
                        delay = backoff_delay(retry, gw.router.rng, failure.retry_after, routing.honor_retry_after)
                        if delay < ctx.remaining():
                            retry += 1
                            await asyncio.sleep(delay)
                            continue
                    break
                except BaseException as exc:
                    state.in_flight -= 1  # cancelled (client gone): nothing to learn about the route
                    if span is not None:
                        span.aborted(exc)
                    raise
                finished = time.monotonic()
                state.in_flight -= 1
                state.observe(finished - started, finished)
                states.succeeded(state, finished)  # recovered by a retry here: not a failure
                ctx.attempt(target.route, 200, (finished - started) * 1000)
                if span is not None:
                    span.succeeded(result)
                return result
            if last is not None and last.condition in retry_on:
                # The request gives up on this route: one outcome for its cooldown, however
                # many retries it made (edge.routing.breaker).
                states.failed(state, time.monotonic(), [t.route for t in stage.targets])
            if last is not None and last.context_length:
                break  # the same model on another route has the same window: go to a fallback
    if last is None:
        raise ServiceUnavailable(f"No route can serve '{plan.public_model}'.")
    if last.condition == "cooldown" and cooling and not panic and _panics(gw, plan):
        oldest = min(cooling, key=lambda t: gw.routes.get(t.route).breaker.opened_at())
        # Nothing was tried: no other reason can stand (a "cooldown on ..." of a stage skipped).
        ctx.fallback_reason = f"panic: every route is cooling down; {oldest.route} cooled first"
        return await execute(gw, Resolution(plan.public_model, (Stage(plan.public_model, (oldest,)),)), ctx, attempt, panic=True)
    raise last.error


def _panics(gw: Gateway, plan: Resolution) -> bool:
    model = gw.config.models.get(plan.public_model)
    return model.panic if model is not None else True


def _falls_back(failure: Failure, retry_on: frozenset[int | str]) -> bool:
    """Worth another route or model: retryable conditions, the upstream refusing us (auth,
    unknown model at that provider), and routes that are full or cooling down."""
    return failure.condition in retry_on or failure.condition in (401, 403, 404, "busy", "cooldown", "timeout", "connection") or failure.context_length


def _larger(stage: Stage, failed_window: int | None) -> bool:
    if stage.context_window is None:
        return False  # unknown: it may well be smaller, and would only fail the same way
    return failed_window is None or stage.context_window > failed_window


def _reason(failure: Failure) -> str:
    if failure.context_length:
        return "context_length"
    return str(failure.condition)
