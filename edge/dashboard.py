"""What the dashboard shows, as JSON-ready documents: spend over time, traffic and latency per
route, cooldowns now, budgets and their use. The admin endpoints (edge/http/dashboard_api.py)
answer with these; GET /ui draws them; scripts can read them too.

Sources: the ledger (edge.store; every instance writes the same one, so spend, latency and
failures cover the whole deployment), this worker's route states for cooldowns
(edge.routing.state and breaker; with ``state.redis`` an open route is shared by every instance
within a poll, without it each worker cools its routes on its own), and the config for budgets.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from edge.fastpath import jsonio

from .gateway import Gateway
from .limits.budgets import period_start
from .store import AttemptsRow, RouteStatsRow, SeriesRow, Store

__all__ = ["MAX_BUCKETS", "budgets_doc", "parse_bucket", "pick_bucket", "routes_doc", "series_doc", "traffic_doc"]

MAX_BUCKETS = 2000
# Bucket widths the dashboard picks from: about 24 to 60 points whatever the period.
_NICE = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FIELDS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_usd")


def pick_bucket(span_s: float) -> int:
    """The smallest nice width that gives at most 60 buckets over ``span_s`` (whole days past a week)."""
    return next((width for width in _NICE if span_s / width <= 60), math.ceil(span_s / 60 / 86400) * 86400)


def parse_bucket(text: str, span_s: float) -> int:
    """``auto``, or a width like ``5m``, ``1h`` (whole seconds, at least 60). Raises ValueError."""
    if text == "auto":
        return pick_bucket(span_s)
    found = _SPAN.match(text)
    if not found:
        raise ValueError(f"cannot read bucket={text!r}: use auto or a width like 5m, 1h, 1d")
    width = int(float(found.group(1)) * _SECONDS[found.group(2)])
    if width < 60:
        raise ValueError(f"bucket={text!r} is under a minute; the smallest is 1m")
    if span_s / width > MAX_BUCKETS:
        raise ValueError(f"bucket={text!r} gives {math.ceil(span_s / width)} buckets over the period; at most {MAX_BUCKETS}")
    return width


def _series(rows: list[SeriesRow], first: int, count: int) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        series = groups.get(row.group)
        if series is None:
            series = groups[row.group] = {name: [0] * count for name in _FIELDS}
            series["cost_usd"] = [0.0] * count
        at = row.bucket - first
        for name in _FIELDS:
            series[name][at] = getattr(row, name)
    return [{"group": group, **values} for group, values in groups.items()]


async def series_doc(store: Store, since: float, now: float, bucket_s: int, group_by: str) -> dict[str, Any]:
    """Dense series (one value per bucket, zeros where nothing happened), ready for a chart.

    Rows stamped after ``now`` (a worker whose clock runs ahead) are left out rather than
    stretching the series into the future.
    """
    first, last = int(since // bucket_s), int(now // bucket_s)
    rows = [row for row in await store.usage_series(since, bucket_s, group_by) if first <= row.bucket <= last]
    count = last - first + 1
    total: dict[str, Any] = {name: sum(getattr(row, name) for row in rows) for name in _FIELDS}
    return {
        "since": since,
        "until": now,
        "bucket_s": bucket_s,
        "group_by": group_by,
        "buckets": [(first + i) * bucket_s for i in range(count)],
        "series": _series(rows, first, count),
        "total": total,
    }


def _stats_doc(row: RouteStatsRow) -> dict[str, Any]:
    return {
        "model": row.model,
        "route": row.route,
        "requests": row.requests,
        "errors": sum(row.errors.values()),
        "errors_by_type": row.errors,
        "p50_ms": row.p50_ms,
        "p99_ms": row.p99_ms,
    }


async def traffic_doc(store: Store, since: float) -> dict[str, Any]:
    """Requests, errors by type and latency p50/p99 per public model and route."""
    rows = await store.route_stats(since)
    return {
        "since": since,
        "latency": "ledger latency_ms (request to last byte) of the period's successful requests; nearest rank",
        "data": [_stats_doc(row) for row in rows],
    }


def _configured_routes(gw: Gateway) -> dict[str, dict[str, Any]]:
    """Every route a public model can use (its own, its fallbacks', its escalation's)."""
    found: dict[str, dict[str, Any]] = {}
    for name in gw.router.public_models:
        plan = gw.router.resolve(name)
        plans = [plan] if plan.escalation is None else [plan.escalation.source, plan.escalation.target]
        for part in plans:
            for stage in part.stages:
                for target in stage.targets:
                    entry = found.setdefault(target.route, {"provider": target.provider.name, "kind": target.provider.kind, "model": target.upstream_model, "public_models": [], "max_concurrency": target.max_concurrency})
                    if name not in entry["public_models"]:
                        entry["public_models"].append(name)
    return found


def _failures(rows: list[AttemptsRow]) -> dict[str, dict[str, Any]]:
    """Route -> {"counts": {"500 api_error": n}, "last_ts": ts} from the ledger's rows.

    A row lists its attempts when it made more than one; a row with one attempt is that attempt.
    """
    out: dict[str, dict[str, Any]] = {}

    def count(route: str, label: str, ts: float) -> None:
        entry = out.setdefault(route, {"counts": {}, "last_ts": ts})
        entry["counts"][label] = entry["counts"].get(label, 0) + 1
        entry["last_ts"] = max(entry["last_ts"], ts)

    for row in rows:
        if row.attempt_log is None:
            if row.route is not None and row.status >= 400:
                count(row.route, " ".join(str(p) for p in (row.status, row.error_type) if p), row.ts)
            continue
        try:
            log = jsonio.loads(row.attempt_log)
        except ValueError:
            continue
        for attempt in log if isinstance(log, list) else ():
            if isinstance(attempt, dict) and str(attempt.get("status")) != "200":
                count(str(attempt.get("route")), " ".join(str(p) for p in (attempt.get("status"), attempt.get("error")) if p), row.ts)
    return out


def _reason(state: str, retry_in: float, failures: dict[str, Any] | None, lookback_s: float) -> str | None:
    if state == "closed":
        return None
    seen = ", ".join(f"{n} x {label}" for label, n in sorted(failures["counts"].items(), key=lambda kv: -kv[1])) if failures else None
    why = f"failed attempts in the last {lookback_s:g} s: {seen}" if seen else "opened by another instance (shared cooldown)"
    if state == "half_open":
        return f"{why}; one probe request is testing it now"
    if retry_in > 0:
        return f"{why}; skipped for {retry_in:.0f} s more, then one probe request"
    return f"{why}; the next request probes it"


async def routes_doc(gw: Gateway, now_wall: float | None = None) -> dict[str, Any]:
    """Each route's state now, as this worker's breakers see it, with why it is cooling down."""
    now_wall = time.time() if now_wall is None else now_wall
    now = time.monotonic()
    cooldown = gw.config.routing.cooldown
    lookback = cooldown.window_s + cooldown.base_ejection_s
    routes = _configured_routes(gw)
    states = gw.routes
    for name in states.names():  # passthrough routes that requests have used
        if name not in routes:
            provider, _, model = name.partition("/")
            kind = gw.providers[provider].kind if provider in gw.providers else "unknown"
            routes[name] = {"provider": provider, "kind": kind, "model": model, "public_models": [], "max_concurrency": None}
    failures = _failures(await gw.store.recent_attempts(now_wall - lookback, 10_000))
    known = set(states.names())
    data = []
    for name, info in routes.items():
        state = states.get(name) if name in known else None
        breaker = "closed" if state is None else state.breaker.state
        retry_in = 0.0 if state is None else state.breaker.retry_in(now)
        if breaker == "open" and retry_in == 0:
            breaker = "half_open"  # due: the next request is the probe
        seen = failures.get(name)
        data.append({
            "route": name,
            **info,
            "state": breaker,
            "cooling_down": breaker != "closed",
            "retry_in_s": round(retry_in, 3),
            "in_flight": 0 if state is None else state.in_flight,
            "latency_ewma_ms": None if state is None or not state.latency else round(state.latency * 1000, 3),
            "recent_failures": seen["counts"] if seen else {},
            "last_failure_ts": seen["last_ts"] if seen else None,
            "reason": _reason(breaker, retry_in, seen, lookback),
        })
    data.sort(key=lambda row: (not row["cooling_down"], row["route"]))
    return {
        "object": "list",
        "cooldown": jsonio.to_builtins(cooldown),
        "scope": "shared by every instance (state.redis)" if states.shared is not None else "this worker",
        "data": data,
    }


async def budgets_doc(gw: Gateway, now: float | None = None) -> dict[str, Any]:
    """Every budget (per-key budgets and config ``budgets``) with what its period has spent."""
    now = time.time() if now is None else now
    keys = [k for k in await gw.store.list_keys() if k.revoked_at is None]
    by_name = {k.name: k for k in keys} | {k.id: k for k in keys}
    budgets: list[dict[str, Any]] = []

    async def add(scope: str, name: str, usd: float, period: str, source: str, key_id: str | None = None, tag: tuple[str, str] | None = None) -> None:
        start = period_start(period, now)
        spent = 0.0 if key_id is None and tag is None else await gw.store.spend(start, key_id=key_id, tag=tag)
        budgets.append({
            "scope": scope, "name": name, "key_id": key_id, "usd": usd, "period": period, "source": source,
            "period_start": start, "spent_usd": spent, "used": (spent / usd) if usd else (1.0 if spent else 0.0),
        })

    for key in keys:
        if key.budget_usd is not None:
            await add("key", key.name, key.budget_usd, key.period, "key", key_id=key.id)
    for rule in gw.config.budgets:
        if rule.tag:
            tag_name, _, value = rule.tag.partition("=")
            await add("tag", rule.tag, rule.usd, rule.period, "config", tag=(tag_name, value))
        if rule.key:
            named = by_name.get(rule.key)
            await add("key", rule.key, rule.usd, rule.period, "config", key_id=named.id if named else None)
    return {"object": "list", "at": now, "data": budgets}
