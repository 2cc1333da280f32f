"""Dashboard reports read from the ledger: spend over time, latency percentiles, failed attempts.

Both stores (SQLite, PostgreSQL) run the same SQL from here; only what differs between the
engines is passed in: the placeholder style, the bucket expression (integer division of ``ts``)
and the grouping expression (edge.store.sqlite / edge.store.postgres ``_GROUP_SQL``).

Latency percentiles come from the ledger rows' ``latency_ms`` (time from request to last byte),
over the period's successful requests (status < 400), per public model and route, by the
nearest-rank method: p50 is the smallest latency with at least half the rows at or below it.
Window functions (ROW_NUMBER, COUNT OVER) do it in one pass in either engine, with no
percentile function SQLite lacks. The cost is a scan of the period's rows (the ``ts`` index
bounds it), so the dashboard asks for hours or days, not years.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

__all__ = ["AttemptsRow", "RouteStatsRow", "SeriesRow", "attempt_rows", "attempts_sql", "errors_sql", "latency_sql", "route_stats", "series_rows", "series_sql"]

_ROUTE = "COALESCE(provider || '/' || upstream_model, '-')"
_FAILED = "CASE WHEN status >= 400 THEN 1 ELSE 0 END"


class SeriesRow(Struct):
    """One group's figures in one time bucket (``bucket`` = floor(ts / bucket_s))."""

    bucket: int
    group: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float


class AttemptsRow(Struct):
    """A ledger row that may hold failed attempts: its attempt log when it made more than one,
    else the one route it tried and how that ended."""

    ts: float
    attempt_log: str | None
    route: str | None
    status: int
    error_type: str | None


class RouteStatsRow(Struct):
    """Requests, errors by type and latency percentiles for one public model on one route."""

    model: str
    route: str
    requests: int
    errors: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None


def series_sql(bucket_expr: str, group_expr: str, since: str) -> str:
    return (
        f"SELECT {bucket_expr} AS b, {group_expr} AS g, COUNT(*), SUM({_FAILED}), SUM(prompt_tokens), "
        f"SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), COALESCE(SUM(cost_usd), 0) "
        f"FROM requests WHERE ts >= {since} GROUP BY b, g"
    )


def series_rows(rows: list[Any]) -> list[SeriesRow]:
    out = [
        SeriesRow(int(b), str(g), int(n), int(e or 0), int(p or 0), int(c or 0), int(ca or 0), int(r or 0), float(cost))
        for b, g, n, e, p, c, ca, r, cost in rows
    ]
    out.sort(key=lambda row: (row.bucket, row.group.encode()))
    return out


def latency_sql(since: str) -> str:
    """(model, route, successful requests, p50 ms, p99 ms), nearest rank."""
    return (
        "SELECT m, r, n, MIN(CASE WHEN rn * 100 >= n * 50 THEN latency_ms END), MIN(CASE WHEN rn * 100 >= n * 99 THEN latency_ms END) "
        f"FROM (SELECT public_model AS m, {_ROUTE} AS r, latency_ms, "
        "ROW_NUMBER() OVER (PARTITION BY public_model, provider, upstream_model ORDER BY latency_ms) AS rn, "
        "COUNT(*) OVER (PARTITION BY public_model, provider, upstream_model) AS n "
        f"FROM requests WHERE ts >= {since} AND status < 400) AS ranked GROUP BY m, r, n"
    )


def errors_sql(since: str) -> str:
    """(model, route, error type or None for successes, requests)."""
    kind = "CASE WHEN status >= 400 THEN COALESCE(error_type, 'http_' || CAST(status AS TEXT)) END"
    return f"SELECT public_model, {_ROUTE}, {kind} AS k, COUNT(*) FROM requests WHERE ts >= {since} GROUP BY public_model, {_ROUTE}, k"


def attempts_sql(since: str, limit: str) -> str:
    """The newest rows that may hold a failed attempt (a retry, a fallback or an error)."""
    return (
        f"SELECT ts, attempt_log, provider || '/' || upstream_model, status, error_type FROM requests "
        f"WHERE ts >= {since} AND (attempts > 1 OR status >= 400) ORDER BY ts DESC LIMIT {limit}"
    )


def attempt_rows(rows: list[Any]) -> list[AttemptsRow]:
    return [AttemptsRow(float(ts), None if log is None else str(log), None if route is None else str(route), int(status), None if error is None else str(error)) for ts, log, route, status, error in rows]


def route_stats(latency: list[Any], errors: list[Any]) -> list[RouteStatsRow]:
    """Both queries' rows merged into one row per (model, route), sorted by model then route."""
    rows: dict[tuple[str, str], RouteStatsRow] = {}

    def row(model: str, route: str) -> RouteStatsRow:
        key = (str(model), str(route))
        found = rows.get(key)
        if found is None:
            found = rows[key] = RouteStatsRow(key[0], key[1], 0, {}, None, None)
        return found

    for model, route, kind, count in errors:
        target = row(model, route)
        target.requests += int(count)
        if kind is not None:
            target.errors[str(kind)] = target.errors.get(str(kind), 0) + int(count)
    for model, route, _n, p50, p99 in latency:
        target = row(model, route)
        target.p50_ms = None if p50 is None else float(p50)
        target.p99_ms = None if p99 is None else float(p99)
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0].encode(), k[1].encode()))]
