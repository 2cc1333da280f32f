"""The dashboard's ledger reports (edge.store.reports) on both stores: SQLite and a real PostgreSQL.

Both must give the same answers for the same rows: figures per time bucket and group (sums
exact: costs are binary fractions), nearest-rank latency percentiles per model and route over
successful requests, errors counted by type, and the rows that may hold failed attempts.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.accounting import AttemptInfo, UsageRecord
from edge.store import RouteStatsRow, SeriesRow, Store, open_store
from tests.edge.store.pg_server import drop_schema, new_schema, require_postgres, schema_url

T0 = 1_700_000_000.0  # not a multiple of the buckets used: the first bucket starts before it


def _rec(i: int, ts: float, latency: float, **kw: object) -> UsageRecord:
    base: dict[str, object] = {"request_id": f"r-{i}", "ts": ts, "public_model": "chat", "status": 200, "provider": "up", "upstream_model": "echo", "latency_ms": latency}
    base.update(kw)
    return UsageRecord(**base)  # type: ignore[arg-type]


LATENCIES = [float(v) for v in (7, 3, 19, 11, 5, 2, 13, 17, 23, 29, 31, 37)]
RECORDS = [
    *(_rec(i, T0 + i * 100, ms, key_id="k1" if i % 3 else "k2", prompt_tokens=10 * i, completion_tokens=i, cost_usd=0.125 * i, tags={"customer": "acme" if i % 2 else "globex"}) for i, ms in enumerate(LATENCIES)),
    _rec(100, T0 + 50, 900.0, status=502, error_type="upstream_unreachable", provider="down", attempts=2,
         attempt_log=[AttemptInfo("down/echo", "connection", 1.5, "api_error"), AttemptInfo("down/echo", "connection", 1.25, "api_error")]),
    _rec(101, T0 + 60, 1.0, status=404, error_type=None, provider=None, upstream_model=None, public_model="nope"),
    _rec(102, T0 + 70, 40.0, status=200, attempts=2, attempt_log=[AttemptInfo("down/echo", "503", 2.0, "api_error"), AttemptInfo("up/echo", "200", 38.0)], cost_usd=0.5),
    _rec(103, T0 + 80, 4.0, status=500, error_type="server_error", public_model="chat", upstream_model="error"),
    _rec(104, T0 - 5000, 1.0, cost_usd=64.0),  # before every since used below
]


def _nearest(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * p / 100) - 1]


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    schema = None
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path}/edge.db", tmp_path)
    else:
        await require_postgres()
        schema = new_schema()
        opened = open_store(schema_url(schema), tmp_path)
    await opened.start()
    try:
        await opened.insert_requests(RECORDS)
        await opened.sync()
        yield opened
    finally:
        await opened.close()
        if schema is not None:
            await drop_schema(schema)


async def test_series_per_bucket_and_group(store: Store) -> None:
    rows = await store.usage_series(T0 - 1, 300.0, "model")
    expected: dict[tuple[int, str], SeriesRow] = {}
    for r in RECORDS:
        if r.ts < T0 - 1:
            continue
        key = (int(r.ts // 300), r.public_model)
        row = expected.setdefault(key, SeriesRow(key[0], key[1], 0, 0, 0, 0, 0, 0, 0.0))
        row.requests += 1
        row.errors += r.status >= 400
        row.prompt_tokens += r.prompt_tokens
        row.completion_tokens += r.completion_tokens
        row.cost_usd += r.cost_usd or 0.0
    assert rows == sorted(expected.values(), key=lambda row: (row.bucket, row.group))
    by_tag = await store.usage_series(T0 - 1, 3600.0, "tag:customer")
    assert {row.group for row in by_tag} == {"acme", "globex", "-"}
    assert sum(row.cost_usd for row in by_tag if row.group == "acme") == sum(0.125 * i for i in range(len(LATENCIES)) if i % 2)
    by_key = await store.usage_series(T0 - 1, 86400.0, "key")
    assert {row.group for row in by_key} == {"k1", "k2", "-"}


async def test_route_stats_percentiles_and_error_types(store: Store) -> None:
    rows = await store.route_stats(T0 - 1)
    assert [(r.model, r.route) for r in rows] == [("chat", "down/echo"), ("chat", "up/echo"), ("chat", "up/error"), ("nope", "-")]
    down, up, error, nope = rows
    assert down == RouteStatsRow("chat", "down/echo", 1, {"upstream_unreachable": 1}, None, None)
    assert up.requests == len(LATENCIES) + 1 and up.errors == {}
    successes = [*LATENCIES, 40.0]
    assert (up.p50_ms, up.p99_ms) == (_nearest(successes, 50), _nearest(successes, 99))
    assert error.errors == {"server_error": 1} and error.p50_ms is None
    assert nope.errors == {"http_404": 1}
    # A narrower period: the percentiles are of its rows only.
    late = await store.route_stats(T0 + 600)
    [late_up] = [r for r in late if r.route == "up/echo"]
    assert late_up.p50_ms == _nearest(LATENCIES[6:], 50) and late_up.requests == len(LATENCIES) - 6


async def test_recent_attempts_newest_first(store: Store) -> None:
    rows = await store.recent_attempts(T0 - 1, 10)
    assert [r.ts for r in rows] == sorted((r.ts for r in RECORDS if r.ts >= T0 - 1 and (r.attempts > 1 or r.status >= 400)), reverse=True)
    by_ts = {r.ts: r for r in rows}
    assert by_ts[T0 + 50].attempt_log is not None and "connection" in by_ts[T0 + 50].attempt_log
    assert (by_ts[T0 + 80].route, by_ts[T0 + 80].status, by_ts[T0 + 80].error_type) == ("up/error", 500, "server_error")
    assert by_ts[T0 + 60].route is None
    assert len(await store.recent_attempts(T0 - 1, 2)) == 2
