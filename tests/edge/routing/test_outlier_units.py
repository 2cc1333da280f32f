"""The cooldown's outlier detector on its own (edge.routing.breaker, edge.routing.state), and its
config (routing.cooldown). Times are plain numbers: the detector takes ``now`` from its caller."""

from __future__ import annotations

import random

import pytest

from edge.config import ConfigError, CooldownConfig, parse_config
from edge.routing.breaker import Breaker
from edge.routing.state import RouteStates


def test_a_success_between_failures_resets_the_consecutive_count() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=5, failure_percent=0))
    for round_ in range(10):
        for i in range(4):
            breaker.failure(round_ * 10 + i)
        breaker.success(round_ * 10 + 5)  # a request answered (maybe after retries): in a row no more
    assert breaker.state == "closed"
    for i in range(5):
        breaker.failure(200 + i)
    assert breaker.state == "open" and breaker.last_reason == "5 consecutive failures"


def test_a_low_failure_rate_never_ejects() -> None:
    # 2% of requests failing (after their retries) at random, 20,000 requests over ~30 minutes.
    breaker = Breaker(CooldownConfig())
    rng = random.Random(3)
    for i in range(20_000):
        now = i * 0.1
        assert breaker.allow(now)
        if rng.random() < 0.02:
            breaker.failure(now)
        else:
            breaker.success(now)
    assert breaker.state == "closed" and breaker.ejections == 0


def test_failure_percent_needs_min_requests_in_the_window() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=0, failure_percent=50, min_requests=20, window_s=10))
    for i in range(19):  # 19 requests in 1 s, 12 failed (63%): too few to judge
        breaker.failure(i / 19) if i % 3 else breaker.success(i / 19)
    assert breaker.state == "closed" and breaker.window(1.0) == (7, 12)
    breaker.failure(1.0)
    assert breaker.state == "open" and breaker.last_reason == "13 of 20 requests failed in 10 s"


def test_failures_that_left_the_window_do_not_count() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=0, failure_percent=50, min_requests=4, window_s=10))
    for t in (0.0, 1.0, 2.0):
        breaker.failure(t)
    breaker.success(20.0)  # the three failures are 18-20 s old: out of the window
    breaker.failure(20.5)
    breaker.success(21.0)
    assert breaker.state == "closed" and breaker.window(21.0) == (2, 1)


def test_ejection_time_grows_with_repeated_ejections_and_is_capped() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=1, base_ejection_s=10, max_ejection_s=25))
    breaker.failure(0)
    assert breaker.retry_in(0) == pytest.approx(10)
    spans = []
    now = 0.0
    for _ in range(3):  # each probe fails
        now += breaker.retry_in(now)
        assert breaker.allow(now) and breaker.state == "half_open"
        breaker.failure(now)
        spans.append(breaker.retry_in(now))
    assert spans == [pytest.approx(20), pytest.approx(25), pytest.approx(25)]


def test_time_in_service_forgives_past_ejections() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=1, base_ejection_s=10, max_ejection_s=300))
    breaker.failure(0)
    assert breaker.allow(10)
    breaker.failure(10)  # failed probe: 2nd ejection, 20 s
    assert breaker.allow(30)
    breaker.success(30)  # restored at 30
    breaker.failure(35)  # 5 s in service forgives nothing: 3rd ejection, 30 s
    assert breaker.retry_in(35) == pytest.approx(30)
    assert breaker.allow(65)
    breaker.success(65)
    breaker.failure(95)  # 30 s in service forgives three: back to the first, 10 s
    assert breaker.retry_in(95) == pytest.approx(10)


def test_one_probe_at_a_time_and_a_lost_probe_is_replaced() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=1, base_ejection_s=10))
    breaker.failure(0)
    assert not breaker.allow(5)
    assert breaker.allow(10) and not breaker.allow(11)  # the probe is out
    # Its client went away and it never reported: after a base ejection time, another may probe.
    assert not breaker.allow(19.9) and breaker.allow(20.1)


def test_a_request_that_started_before_the_ejection_proves_nothing() -> None:
    breaker = Breaker(CooldownConfig(consecutive_failures=1, base_ejection_s=10))
    breaker.failure(0)
    breaker.success(1)  # began before the ejection: does not restore the route
    breaker.failure(2)  # nor does a late failure make the ejection longer
    assert breaker.state == "open" and breaker.retry_in(2) == pytest.approx(8)


def test_max_ejection_percent_keeps_part_of_a_model_in_service() -> None:
    states = RouteStates(CooldownConfig(consecutive_failures=1, max_ejection_percent=50))
    group = ["p/a", "p/b", "p/c", "p/d"]
    for name in group:
        states.failed(states.get(name), 1.0, group)
    ejected = [name for name in group if states.get(name).breaker.ejected]
    assert ejected == ["p/a", "p/b"]  # half of four
    # A model of one route (or a passthrough name) can always lose it: at least one, as in Envoy.
    states.failed(states.get("p/alone"), 1.0, ["p/alone"])
    assert states.get("p/alone").breaker.ejected
    # Two routes, 10%: still one may go.
    few = RouteStates(CooldownConfig(consecutive_failures=1, max_ejection_percent=10))
    for name in ("q/a", "q/b"):
        few.failed(few.get(name), 1.0, ["q/a", "q/b"])
    assert [few.get(n).breaker.ejected for n in ("q/a", "q/b")] == [True, False]


def test_a_failed_probe_at_the_cap_returns_the_route_to_service() -> None:
    states = RouteStates(CooldownConfig(consecutive_failures=1, max_ejection_percent=50, base_ejection_s=10))
    group = ["p/a", "p/b"]
    a, b = states.get("p/a"), states.get("p/b")
    states.failed(a, 0.0, group)
    assert a.breaker.allow(10.0)  # a's probe goes out ...
    states.succeeded(a, 10.5)  # ... and restores it
    states.failed(b, 11.0, group)
    assert b.breaker.ejected
    states.failed(a, 12.0, group)  # a fails again, but b is out and the cap is one of two
    assert not a.breaker.ejected and a.breaker.allow(12.0)


def _cooldown(**fields: object) -> dict:
    return {"routing": {"cooldown": fields}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"consecutive_failures": -1}, "routing.cooldown.consecutive_failures: must be 0 (off) or more (got -1)"),
        ({"failure_percent": 150}, "routing.cooldown.failure_percent: must be a percentage, 0..100 (got 150"),
        ({"max_ejection_percent": -5}, "routing.cooldown.max_ejection_percent: must be a percentage, 0..100 (got -5"),
        ({"min_requests": 0}, "routing.cooldown.min_requests: must be at least 1 (got 0)"),
        ({"window_s": 0}, "routing.cooldown.window_s: must be positive (got 0"),
        ({"base_ejection_s": 60, "max_ejection_s": 30}, "routing.cooldown.max_ejection_s: must be at least base_ejection_s (60) (got 30"),
        ({"failures": 3}, "routing.cooldown.failures: no longer a setting (got 3); use consecutive_failures"),
        ({"for_s": 60}, "routing.cooldown.for_s: no longer a setting (got 60); use base_ejection_s"),
        ({"consecutive_failures": "many"}, "routing.cooldown.consecutive_failures"),
    ],
)
def test_cooldown_config_errors_name_the_path_and_value(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_cooldown(**fields))
    assert message in str(info.value)


def test_cooldown_defaults() -> None:
    cooldown = parse_config({}).routing.cooldown
    assert (cooldown.consecutive_failures, cooldown.failure_percent, cooldown.min_requests, cooldown.window_s) == (5, 50.0, 20, 30.0)
    assert (cooldown.base_ejection_s, cooldown.max_ejection_s, cooldown.max_ejection_percent) == (30.0, 300.0, 50.0)
