"""Response schemas of the dashboard's JSON endpoints, for /openapi.json (edge/http/openapi.py).

Each struct mirrors a document edge.dashboard builds; msgspec turns them into JSON Schema, so
the description is checked against real answers by tests/hostile/test_schemathesis.py.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

__all__ = ["BudgetList", "RouteStateList", "UsageRoutes", "UsageSeries"]


class UsageFigures(Struct):
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float


class UsageSeriesGroup(Struct):
    """One group's figures, one value per bucket."""

    group: str
    requests: list[int]
    errors: list[int]
    prompt_tokens: list[int]
    completion_tokens: list[int]
    cached_tokens: list[int]
    reasoning_tokens: list[int]
    cost_usd: list[float]


class UsageSeries(Struct):
    """Spend and tokens over time (edge.dashboard.series_doc); buckets are their start times."""

    since: float
    until: float
    bucket_s: int
    group_by: str
    buckets: list[float]
    series: list[UsageSeriesGroup]
    total: UsageFigures


class RouteTraffic(Struct):
    model: str
    route: str
    requests: int
    errors: int
    errors_by_type: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None


class UsageRoutes(Struct):
    """Requests, errors by type and latency per public model and route (edge.dashboard.traffic_doc)."""

    since: float
    latency: str
    data: list[RouteTraffic]


class Cooldown(Struct):
    """routing.cooldown (README): outlier detection per route."""

    consecutive_failures: int
    failure_percent: float
    min_requests: int
    window_s: float
    base_ejection_s: float
    max_ejection_s: float
    max_ejection_percent: float


class RouteState(Struct):
    route: str
    provider: str
    kind: str
    model: str
    public_models: list[str]
    max_concurrency: int | None
    state: Literal["closed", "open", "half_open"]
    cooling_down: bool
    retry_in_s: float
    in_flight: int
    latency_ewma_ms: float | None
    recent_failures: dict[str, int]
    last_failure_ts: float | None
    reason: str | None


class RouteStateList(Struct):
    """Each route's cooldown state now (edge.dashboard.routes_doc)."""

    object: Literal["list"]
    cooldown: Cooldown
    scope: str
    data: list[RouteState]


class Budget(Struct):
    scope: Literal["key", "tag"]
    name: str
    key_id: str | None
    usd: float
    period: Literal["day", "month"]
    source: Literal["key", "config"]
    period_start: float
    spent_usd: float
    used: float


class BudgetList(Struct):
    """Every budget and what its current period has spent (edge.dashboard.budgets_doc)."""

    object: Literal["list"]
    at: float
    data: list[Budget]
