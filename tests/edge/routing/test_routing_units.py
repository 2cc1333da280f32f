"""Routing pieces on their own: strategies, backoff, retry budget, cooldown, plans, checks."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from edge.config import ConfigError, CooldownConfig, parse_config
from edge.providers import Providers
from edge.router import Router
from edge.routing.breaker import Breaker
from edge.routing.checks import failed_check
from edge.routing.retry import CAP_S, RetryBudget, backoff_delay
from edge.routing.strategy import order


def test_weighted_distribution_follows_weights() -> None:
    rng = random.Random(7)
    weights = {"a": 3.0, "b": 1.0, "z": 0.0}
    firsts = Counter(order(list(weights), "weighted", weights.get, lambda t: 0, lambda t: 0.0, rng)[0] for _ in range(8000))
    assert firsts["z"] == 0
    assert firsts["a"] / 8000 == pytest.approx(0.75, abs=0.02)
    assert order(["z", "a"], "weighted", weights.get, lambda t: 0, lambda t: 0.0, rng)[-1] == "z"


def test_least_busy_picks_fewest_in_flight() -> None:
    busy = {"a": 5, "b": 0, "c": 2}
    assert order(list(busy), "least_busy", lambda t: 1.0, busy.get, lambda t: 0.0, random.Random(1)) == ["b", "c", "a"]


def test_latency_power_of_two_choices_prefers_the_cheaper() -> None:
    cost = {"fast": 0.01, "slow": 1.0, "slower": 2.0}
    rng = random.Random(3)
    firsts = Counter(order(list(cost), "latency", lambda t: 1.0, lambda t: 0, cost.get, rng)[0] for _ in range(3000))
    # P2C: the slowest is never first (it loses every pairing); the fastest wins 2/3 of draws.
    assert firsts["slower"] == 0
    assert firsts["fast"] / 3000 == pytest.approx(2 / 3, abs=0.03)


def test_backoff_is_full_jitter_and_honors_retry_after() -> None:
    rng = random.Random(5)
    for retry in range(8):
        samples = [backoff_delay(retry, rng) for _ in range(400)]
        assert 0 <= min(samples) and max(samples) <= min(CAP_S, 0.1 * 2**retry)
    assert backoff_delay(0, rng, retry_after=3.0) >= 3.0
    assert backoff_delay(0, rng, retry_after=500.0) == 30.0  # capped
    assert backoff_delay(0, rng, retry_after=3.0, honor_retry_after=False) <= 0.1


def test_retry_budget_caps_retries_at_a_fifth_of_requests() -> None:
    budget = RetryBudget(ratio=0.2, window_s=10, min_retries=0)
    now = 1000.0
    for _ in range(100):
        budget.request(now)
    spent = sum(budget.try_spend(now) for _ in range(100))
    assert spent == 20
    # the window slides: ten seconds later the old requests no longer count
    assert not budget.try_spend(now + 10.5)
    for _ in range(50):
        budget.request(now + 10.5)
    assert sum(budget.try_spend(now + 10.5) for _ in range(50)) == 10


def test_breaker_opens_half_opens_and_closes() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=3, base_ejection_s=60, max_ejection_s=600))
    assert breaker.allow(0) and breaker.state == "closed"
    breaker.failure(1)
    breaker.failure(2)
    assert breaker.allow(3)
    breaker.failure(3)
    assert breaker.state == "open" and not breaker.allow(10)
    assert breaker.retry_in(10) == pytest.approx(53)
    assert breaker.allow(64) and breaker.state == "half_open"  # the one probe
    assert not breaker.allow(64.5)  # no second probe while the first is out
    breaker.failure(65)
    # The failed probe ejects it again, for twice as long (Envoy: base time x ejections).
    assert breaker.state == "open" and not breaker.allow(100) and breaker.retry_in(65) == pytest.approx(120)
    assert breaker.allow(186)
    breaker.success(186)
    assert breaker.state == "closed" and breaker.allow(187) and breaker.allow(187)


def test_failures_outside_the_window_do_not_open() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=0, failure_percent=50, min_requests=3, window_s=10))
    for t in (0, 11, 22):
        breaker.failure(t)
    assert breaker.state == "closed"
    for t in (30, 31, 32):
        breaker.failure(t)
    assert breaker.state == "open"


def _config(models: dict) -> dict:
    return {"providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"}}, "models": models}


def test_fallback_config_errors() -> None:
    route = [{"provider": "p", "model": "m"}]
    with pytest.raises(ConfigError, match=r"models\.a\.fallbacks\[0\]: unknown model 'nope'"):
        parse_config(_config({"a": {"route": route, "fallbacks": ["nope"]}}), env={})
    with pytest.raises(ConfigError, match="cannot fall back to itself"):
        parse_config(_config({"a": {"route": route, "fallbacks": ["a"]}}), env={})
    with pytest.raises(ConfigError, match=r"cycle: a -> b -> c -> a"):
        parse_config(_config({"a": {"route": route, "fallbacks": ["b"]}, "b": {"route": route, "fallbacks": ["c"]}, "c": {"route": route, "fallbacks": ["a"]}}), env={})
    with pytest.raises(ConfigError, match=r"escalate\.to: unknown model 'ghost'"):
        parse_config(_config({"a": {"route": route}, "e": {"escalate": {"from": "a", "to": "ghost"}}}), env={})
    with pytest.raises(ConfigError, match=r"strategy: invalid enum value 'fastest'"):
        parse_config(_config({"a": {"route": route, "strategy": "fastest"}}), env={})


def test_plan_stages_follow_fallbacks_depth_first() -> None:
    route = lambda m: [{"provider": "p", "model": m}]  # noqa: E731
    config = parse_config(_config({
        "a": {"route": route("a1"), "fallbacks": ["b", "c"], "context_window": 8000},
        "b": {"route": route("b1"), "fallbacks": ["d"]},
        "c": {"route": route("gpt-4.1")},
        "d": {"route": route("d1")},
        "e": {"escalate": {"from": "a", "to": "c"}},
    }), env={})
    router = Router(config, Providers(config))
    plan = router.resolve("a")
    assert [s.model for s in plan.stages] == ["a", "b", "d", "c"]
    assert plan.stages[0].context_window == 8000 and plan.stages[3].context_window == 1_047_576
    escalating = router.resolve("e")
    assert escalating.escalation is not None and [s.model for s in escalating.stages] == ["a", "b", "d", "c"]
    assert [s.model for s in escalating.escalation.target.stages] == ["c"]


def _answer(content, finish="stop", **message):  # type: ignore[no-untyped-def]
    return {"choices": [{"message": {"content": content, **message}, "finish_reason": finish}]}


def test_escalation_checks() -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}
    every = ["invalid_json", "truncated", "refusal", "empty"]
    assert failed_check(_answer('{"n": 1}'), {"response_format": schema_format}, every) is None
    assert failed_check(_answer('{"n": "one"}'), {"response_format": schema_format}, every) == "invalid_json"
    assert failed_check(_answer("n = 1"), {"response_format": {"type": "json_object"}}, every) == "invalid_json"
    assert failed_check(_answer("plain text is fine"), {}, every) is None
    assert failed_check(_answer("cut", "length"), {}, every) == "truncated"
    assert failed_check(_answer(None, refusal="I can't help with that"), {}, every) == "refusal"
    assert failed_check(_answer("   "), {}, every) == "empty"
    assert failed_check(_answer(None, "tool_calls", tool_calls=[{"id": "1"}]), {}, every) is None
    assert failed_check(_answer("cut", "length"), {}, ["empty"]) is None
