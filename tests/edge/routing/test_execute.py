"""The routing executor (edge.routing.execute) on its own: a real Gateway, a fake upstream.

The Gateway is built from a config whose providers point nowhere (127.0.0.1:9) and is never
started: ``execute`` only needs its config, route states, retry budget and metrics. The attempt
it is given stands in for the network: a script per route of what its successive attempts do
(answer, fail with a status, time out, block until released), and a log of the routes tried.
The tests check what execute does with those outcomes: the order of routes, retries, Retry-After,
fallbacks, cooldowns, concurrency caps, the deadline and what it records in the context.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.adapters.types import UpstreamErrorInfo
from edge.auth import ANONYMOUS
from edge.config import parse_config
from edge.context import RequestContext
from edge.errors import BadGateway, EdgeError, GatewayTimeout, ServiceUnavailable, UpstreamError
from edge.gateway import Gateway
from edge.router import Target
from edge.routing.execute import Failure, execute
from tests.support import async_wait_for

Step = str | Callable[[float], Awaitable[str]]  # an answer, or what the attempt does given its timeout


def fails(status: int, *, retry_after: float | None = None, code: str | None = None, message: str = "the upstream said no") -> Step:
    async def step(timeout: float) -> str:
        info = UpstreamErrorInfo(status=status, message=message, type="invalid_request_error" if status < 500 else "server_error", code=code, retry_after=retry_after)
        raise Failure(UpstreamError(info, "fake"), status)

    return step


async def unreachable(timeout: float) -> str:
    raise Failure(BadGateway("Could not reach the fake provider."), "connection")


async def never_answers(timeout: float) -> str:
    # An upstream that sends nothing: the attempt gives up when its timeout runs out, as the
    # real one does (this wait is the fake upstream's silence, not the test waiting).
    await asyncio.sleep(timeout)
    raise Failure(GatewayTimeout(f"No answer within {timeout:.3g} s."), "timeout")


def blocks_until(release: asyncio.Event) -> Step:
    async def step(timeout: float) -> str:
        await release.wait()
        return "released"

    return step


class FakeUpstream:
    """The attempt coroutine: each route plays its script (the last step repeats)."""

    def __init__(self, script: dict[str, list[Step]]) -> None:
        self.script = {route: list(steps) for route, steps in script.items()}
        self.calls: list[tuple[str, float, float]] = []  # route, timeout given, when

    async def __call__(self, target: Target, timeout: float) -> str:
        self.calls.append((target.route, timeout, time.monotonic()))
        steps = self.script.get(target.route)
        assert steps, f"execute tried {target.route}, which this test never offers"
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        return step if isinstance(step, str) else await step(timeout)

    @property
    def routes(self) -> list[str]:
        return [route for route, _, _ in self.calls]


def route(provider: str, model: str, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "model": model, "weight": weight, **extra}


def make_gateway(tmp_path: Path, models: dict[str, Any], **routing: Any) -> Gateway:
    doc = {
        "state": {"ledger": f"sqlite:///{tmp_path}/edge.db"},
        # Nothing listens there; the fake attempt never calls them anyway.
        "providers": {name: {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "timeout_s": 5} for name in ("a", "b", "c")},
        "models": models,
        "routing": {"retries": 0, **routing},
    }
    return Gateway(parse_config(doc, env={}, source=str(tmp_path / "edge.yaml")))


def context(model: str, timeout_s: float | None = None) -> RequestContext:
    return RequestContext("req-execute-test", ANONYMOUS, model, "chat", False, timeout_s=timeout_s)


async def run(gw: Gateway, model: str, upstream: FakeUpstream, timeout_s: float | None = None) -> tuple[RequestContext, str]:
    ctx = context(model, timeout_s)
    return ctx, await execute(gw, gw.router.resolve(model), ctx, upstream)


async def refused(gw: Gateway, model: str, upstream: FakeUpstream, timeout_s: float | None = None) -> tuple[RequestContext, EdgeError]:
    ctx = context(model, timeout_s)
    with pytest.raises(EdgeError) as info:
        await execute(gw, gw.router.resolve(model), ctx, upstream)
    return ctx, info.value


# -- order of routes per strategy -------------------------------------------------------------


async def test_weighted_tries_a_weight_zero_route_only_after_the_others(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x", 0), route("b", "y", 1), route("c", "z", 1)]}})
    firsts = set()
    for _ in range(30):
        upstream = FakeUpstream({"a/x": ["from a"], "b/y": ["from b"], "c/z": ["from c"]})
        await run(gw, "m", upstream)
        firsts.add(upstream.routes[0])
    assert firsts == {"b/y", "c/z"}  # drawn by weight; never the weight-0 route (1 in 2**29 to miss one)
    upstream = FakeUpstream({"a/x": ["from a"], "b/y": [fails(503)], "c/z": [fails(503)]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "from a" and upstream.routes[-1] == "a/x" and sorted(upstream.routes[:2]) == ["b/y", "c/z"]


async def test_least_busy_goes_to_the_route_with_nothing_in_flight(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"strategy": "least_busy", "route": [route("a", "x"), route("b", "y")]}})
    for _ in range(6):  # ties are broken at random: several rounds, whichever route the first takes
        release = asyncio.Event()
        first = FakeUpstream({"a/x": [blocks_until(release)], "b/y": [blocks_until(release)]})
        pending = asyncio.ensure_future(run(gw, "m", first))
        await async_wait_for(lambda: first.calls, what="the first request in flight")
        second = FakeUpstream({"a/x": ["a"], "b/y": ["b"]})
        await run(gw, "m", second)
        assert second.routes != first.routes and len(second.routes) == 1
        release.set()
        assert (await pending)[1] == "released"


async def test_latency_prefers_the_faster_route_once_both_are_measured(tmp_path: Path) -> None:
    async def slow(timeout: float) -> str:
        await asyncio.sleep(0.05)  # the fake upstream's latency, which the strategy measures
        return "slow"

    gw = make_gateway(tmp_path, {"m": {"strategy": "latency", "route": [route("a", "x"), route("b", "y")]}})
    script: dict[str, list[Step]] = {"a/x": [slow], "b/y": ["fast"]}
    # Unmeasured routes look fast, so within two requests each has answered once.
    tried = [FakeUpstream(script) for _ in range(2)]
    for upstream in tried:
        await run(gw, "m", upstream)
    assert {u.routes[0] for u in tried} == {"a/x", "b/y"}
    for _ in range(20):
        upstream = FakeUpstream(script)
        assert (await run(gw, "m", upstream))[1] == "fast" and upstream.routes == ["b/y"]


async def test_a_models_routes_come_before_its_fallbacks_in_order(tmp_path: Path) -> None:
    models = {
        "m": {"route": [route("a", "x")], "fallbacks": ["n", "o"]},
        "n": {"route": [route("b", "y")]},
        "o": {"route": [route("c", "z")]},
    }
    gw = make_gateway(tmp_path, models)
    upstream = FakeUpstream({"a/x": [fails(503)], "b/y": [fails(500)], "c/z": ["from o"]})
    ctx, answer = await run(gw, "m", upstream)
    assert answer == "from o" and upstream.routes == ["a/x", "b/y", "c/z"]
    assert ctx.fallback_reason == "503 on a/x"  # the first reason to leave the model's own routes
    assert (ctx.record.provider, ctx.record.upstream_model) == ("c", "z")


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", [429, 500, 502, 503, 504, "timeout", "connection"])
async def test_each_retry_on_condition_is_retried_on_the_same_route(tmp_path: Path, condition: int | str) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2)
    failing: Step
    if condition == "timeout":
        async def failing(timeout: float) -> str:
            raise Failure(GatewayTimeout("No answer."), "timeout")
    elif condition == "connection":
        failing = unreachable
    else:
        failing = fails(int(condition))
    upstream = FakeUpstream({"a/x": [failing, failing, "third time"], "b/y": ["never"]})
    ctx, answer = await run(gw, "m", upstream)
    assert answer == "third time" and upstream.routes == ["a/x"] * 3
    assert ctx.record.attempts == 3


async def test_retries_run_out_then_the_next_route_answers(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=1)
    upstream = FakeUpstream({"a/x": [fails(503)], "b/y": ["from b"]})
    ctx, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "a/x", "b/y"]
    assert ctx.fallback_reason is None  # another route of the same model is not a fallback


async def test_a_condition_outside_retry_on_is_not_retried(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2, retry_on=[503])
    upstream = FakeUpstream({"a/x": [unreachable], "b/y": ["from b"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "b/y"]  # no retry, but on to the next route


async def test_an_empty_retry_budget_means_no_retry(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2, retry_budget=0, retry_budget_min=0)
    upstream = FakeUpstream({"a/x": [fails(503)], "b/y": ["from b"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "b/y"]


async def test_a_400_ends_everything_at_once(tmp_path: Path) -> None:
    models = {"m": {"route": [route("a", "x"), route("b", "y", 0)], "fallbacks": ["n"]}, "n": {"route": [route("c", "z")]}}
    gw = make_gateway(tmp_path, models, retries=2)
    upstream = FakeUpstream({"a/x": [fails(400, message="messages[0].content: bad")], "b/y": ["never"], "c/z": ["never"]})
    ctx, err = await refused(gw, "m", upstream)
    assert upstream.routes == ["a/x"]  # no retry, no other route, no fallback
    assert isinstance(err, UpstreamError) and err.status == 400 and err.message == "messages[0].content: bad"
    assert ctx.record.attempts == 1


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_the_upstream_refusing_us_moves_on_without_a_retry(tmp_path: Path, status: int) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2)
    upstream = FakeUpstream({"a/x": [fails(status)], "b/y": ["from b"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "b/y"]


async def test_a_context_length_error_skips_to_a_fallback_with_a_larger_window(tmp_path: Path) -> None:
    models = {
        "small": {"route": [route("a", "x"), route("a", "x2")], "context_window": 1000, "fallbacks": ["tiny", "big"]},
        "tiny": {"route": [route("b", "y")], "context_window": 500},
        "big": {"route": [route("c", "z")], "context_window": 100000},
    }
    gw = make_gateway(tmp_path, models, retries=2)
    too_long = fails(400, code="context_length_exceeded", message="This model's maximum context length is 1000 tokens.")
    upstream = FakeUpstream({"a/x": [too_long], "a/x2": [too_long], "b/y": ["never"], "c/z": ["from big"]})
    ctx, answer = await run(gw, "small", upstream)
    # The same model's other route has the same window: straight to the larger fallback.
    assert answer == "from big" and len(upstream.routes) == 2 and upstream.routes[-1] == "c/z"
    assert ctx.fallback_reason is not None and ctx.fallback_reason.startswith("context_length on a/")


# -- Retry-After ----------------------------------------------------------------------------


async def test_retry_after_is_waited_for_up_to_max_retry_wait_s(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")]}}, retries=1, max_retry_wait_s=1)
    upstream = FakeUpstream({"a/x": [fails(429, retry_after=0.3), "after the wait"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "after the wait" and upstream.routes == ["a/x", "a/x"]
    gap = upstream.calls[1][2] - upstream.calls[0][2]
    assert gap >= 0.29  # the loop may wake a clock tick early


async def test_a_retry_after_longer_than_max_retry_wait_s_moves_on_at_once(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2, max_retry_wait_s=1)
    upstream = FakeUpstream({"a/x": [fails(429, retry_after=3)], "b/y": ["from b"]})
    started = time.monotonic()
    _, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "b/y"]
    assert time.monotonic() - started < 1


async def test_a_long_retry_after_on_the_only_route_is_passed_to_the_client(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")]}}, retries=2, max_retry_wait_s=1)
    upstream = FakeUpstream({"a/x": [fails(429, retry_after=3)]})
    _, err = await refused(gw, "m", upstream)
    assert upstream.routes == ["a/x"] and err.status == 429 and err.retry_after == 3


async def test_retry_after_is_ignored_when_honor_retry_after_is_off(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")]}}, retries=1, honor_retry_after=False, max_retry_wait_s=1)
    upstream = FakeUpstream({"a/x": [fails(429, retry_after=3), "at once"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "at once" and upstream.calls[1][2] - upstream.calls[0][2] < 1  # the backoff alone (at most 0.1 s)


# -- fallbacks --------------------------------------------------------------------------------


async def test_fallback_to_the_next_model(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")], "fallbacks": ["n"]}, "n": {"route": [route("b", "y")]}})
    upstream = FakeUpstream({"a/x": [fails(503)], "b/y": ["from n"]})
    ctx, answer = await run(gw, "m", upstream)
    assert answer == "from n" and upstream.routes == ["a/x", "b/y"]
    assert ctx.fallback_reason == "503 on a/x"
    assert b'edge_fallbacks_total{model="m"} 1.0' in gw.metrics.render()


async def test_when_every_model_fails_the_last_failure_is_the_answer(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")], "fallbacks": ["n"]}, "n": {"route": [route("b", "y")]}})
    upstream = FakeUpstream({"a/x": [fails(503)], "b/y": [fails(502, message="the last one")]})
    _, err = await refused(gw, "m", upstream)
    assert upstream.routes == ["a/x", "b/y"] and err.status == 502 and err.message == "the last one"


# -- cooldown and concurrency -----------------------------------------------------------------

# The one cooldown rule these tests rely on: a route whose breaker is open is skipped. It is
# opened through failing attempts, with a config that opens it on the first (only this constant
# names routing.cooldown's knobs).
OPEN_ON_FIRST_FAILURE = {"consecutive_failures": 1, "failure_percent": 0, "base_ejection_s": 30, "max_ejection_s": 30}


async def test_a_cooling_route_is_skipped_without_an_attempt(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, cooldown=OPEN_ON_FIRST_FAILURE)
    first = FakeUpstream({"a/x": [fails(503)], "b/y": ["from b"]})
    assert (await run(gw, "m", first))[1] == "from b" and first.routes == ["a/x", "b/y"]
    second = FakeUpstream({"a/x": ["never"], "b/y": ["from b"]})
    assert (await run(gw, "m", second))[1] == "from b" and second.routes == ["b/y"]


async def test_every_route_cooling_down_is_503_with_retry_after(tmp_path: Path) -> None:
    # panic: false (by default the route that cooled first is tried: tests/edge/routing/test_panic.py)
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")], "panic": False}}, cooldown=OPEN_ON_FIRST_FAILURE)
    _, err = await refused(gw, "m", FakeUpstream({"a/x": [fails(503)]}))
    assert err.status == 503 and err.code != "cooling_down"  # the upstream's own 503
    upstream = FakeUpstream({"a/x": ["never"]})
    ctx, err = await refused(gw, "m", upstream)
    assert upstream.routes == [] and ctx.record.attempts == 0
    assert isinstance(err, ServiceUnavailable) and err.code == "cooling_down"
    assert err.retry_after is not None and 1 <= err.retry_after <= 30


async def test_a_route_at_its_concurrency_cap_is_skipped(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x", 1, max_concurrency=1), route("b", "y", 0)]}})
    release = asyncio.Event()
    holding = FakeUpstream({"a/x": [blocks_until(release)]})
    pending = asyncio.ensure_future(run(gw, "m", holding))
    await async_wait_for(lambda: holding.calls, what="the first request holding route a")
    second = FakeUpstream({"a/x": ["never"], "b/y": ["from b"]})
    assert (await run(gw, "m", second))[1] == "from b" and second.routes == ["b/y"]
    release.set()
    assert (await pending)[1] == "released"
    third = FakeUpstream({"a/x": ["a again"]})
    assert (await run(gw, "m", third))[1] == "a again"  # the slot is free again


async def test_a_model_whose_only_route_is_full_is_503(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x", 1, max_concurrency=1)]}})
    release = asyncio.Event()
    holding = FakeUpstream({"a/x": [blocks_until(release)]})
    pending = asyncio.ensure_future(run(gw, "m", holding))
    await async_wait_for(lambda: holding.calls, what="the first request holding route a")
    upstream = FakeUpstream({"a/x": ["never"]})
    _, err = await refused(gw, "m", upstream)
    assert upstream.routes == [] and isinstance(err, ServiceUnavailable) and err.retry_after == 1.0
    release.set()
    await pending


# -- the deadline -----------------------------------------------------------------------------


async def test_the_deadline_ends_everything_with_504(tmp_path: Path) -> None:
    models = {"m": {"route": [route("a", "x"), route("b", "y", 0)], "fallbacks": ["n"]}, "n": {"route": [route("c", "z")]}}
    gw = make_gateway(tmp_path, models, retries=2, timeout_s=0.3)
    upstream = FakeUpstream({"a/x": [never_answers], "b/y": ["never"], "c/z": ["never"]})
    started = time.monotonic()
    ctx, err = await refused(gw, "m", upstream)
    assert isinstance(err, GatewayTimeout) and err.status == 504 and err.code == "deadline_exceeded"
    assert upstream.routes == ["a/x"]  # no retry, no next route, no fallback after the deadline
    assert 0.2 < upstream.calls[0][1] <= 0.3  # the attempt was given what was left, not the provider's 5 s
    assert time.monotonic() - started < 1.5
    assert ctx.record.attempts == 1


async def test_a_client_timeout_only_shortens_the_deadline(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")]}}, timeout_s=0.5)
    longer = FakeUpstream({"a/x": ["ok"]})
    await run(gw, "m", longer, timeout_s=60)
    assert longer.calls[0][1] <= 0.5
    shorter = FakeUpstream({"a/x": ["ok"]})
    await run(gw, "m", shorter, timeout_s=0.2)
    assert shorter.calls[0][1] <= 0.2
    roomy = make_gateway(tmp_path, {"m": {"route": [route("a", "x")]}})
    within = FakeUpstream({"a/x": ["ok"]})
    await run(roomy, "m", within)
    assert within.calls[0][1] == 5  # the provider's timeout_s when the deadline is further away


async def test_no_retry_when_its_wait_would_pass_the_deadline(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x"), route("b", "y", 0)]}}, retries=2, max_retry_wait_s=5, timeout_s=0.5)
    upstream = FakeUpstream({"a/x": [fails(429, retry_after=2)], "b/y": ["from b"]})
    _, answer = await run(gw, "m", upstream)
    assert answer == "from b" and upstream.routes == ["a/x", "b/y"]


# -- what is recorded -------------------------------------------------------------------------


async def test_every_attempt_is_recorded_in_the_context(tmp_path: Path) -> None:
    gw = make_gateway(tmp_path, {"m": {"route": [route("a", "x")], "fallbacks": ["n"]}, "n": {"route": [route("b", "y")]}}, retries=1)
    upstream = FakeUpstream({"a/x": [fails(503), unreachable], "b/y": ["from n"]})
    ctx, _ = await run(gw, "m", upstream)
    assert ctx.record.attempts == 3 == len(upstream.calls)
    assert [(r, status, error) for r, status, _, error in ctx.attempts] == [
        ("a/x", 503, "server_error"),
        ("a/x", "connection", "api_error"),
        ("b/y", 200, None),
    ]
    assert all(latency >= 0 for _, _, latency, _ in ctx.attempts)
    assert (ctx.record.provider, ctx.record.upstream_model) == ("b", "y")
    assert ctx.deadline is not None and ctx.deadline == pytest.approx(ctx.started + 600)
