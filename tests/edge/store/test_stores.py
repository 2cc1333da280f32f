"""The Store contract, run against both backends: SQLite in a temp folder and a real PostgreSQL.

Both must give the same answers for the same rows: spend by key and tag, usage grouped every
way with exact sums (costs are binary fractions, so float sums are exact in either engine),
keys created, listed and revoked. PostgreSQL-only cases cover what SQLite cannot get wrong:
the schema parameter, text Postgres refuses, concurrent table creation, the session time zone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.accounting import UsageRecord
from edge.store import KeyRow, Store, UsageRow, open_store
from edge.store.postgres import PostgresStore, split_schema
from tests.edge.store.pg_server import PG_BASE, drop_schema, fetch, new_schema, require_postgres, schema_url

# 2023-11-14 23:59:59 UTC and one second later: the day boundary in UTC, whatever the server's zone.
LATE = 1700006399.0
MIDNIGHT = 1700006400.0
OLD = 1600000000.0  # before every ``since`` used below


def _rec(i: int, ts: float, **kw: object) -> UsageRecord:
    base: dict[str, object] = {"request_id": f"req-{i}", "ts": ts, "public_model": "chat", "status": 200, "endpoint": "chat", "latency_ms": 12.5}
    base.update(kw)
    return UsageRecord(**base)  # type: ignore[arg-type]


RECORDS = [
    _rec(1, LATE, key_id="k1", provider="up", upstream_model="echo", prompt_tokens=10, completion_tokens=20, cached_tokens=4, cost_usd=0.25, tags={"customer": "acme", "feature": "search"}),
    _rec(2, LATE, key_id="k1", provider="up", prompt_tokens=7, completion_tokens=3, reasoning_tokens=2, cost_usd=0.125, tags={"customer": "acme"}, stream=True, ttft_ms=3.0),
    _rec(3, MIDNIGHT, key_id="k2", provider="up", public_model="fast", prompt_tokens=100, completion_tokens=1, cost_usd=0.5, tags={"customer": "globex"}),
    _rec(4, MIDNIGHT, key_id=None, provider=None, status=429, error_type="rate_limited", cost_usd=None),
    _rec(5, MIDNIGHT + 60, key_id="k2", provider="down", public_model="fast", status=502, error_type="upstream_unreachable", attempts=2, prompt_tokens=5, estimated=True, cost_usd=0.0625, tags={"feature": "chat"}),
    _rec(6, OLD, key_id="k1", provider="up", prompt_tokens=1000, completion_tokens=1000, cost_usd=64.0, tags={"customer": "acme"}),
]


def _group(r: UsageRecord, group_by: str) -> str:
    if group_by.startswith("tag:"):
        return (r.tags or {}).get(group_by[4:], "-")
    if group_by == "day":
        return "2023-11-14" if r.ts < MIDNIGHT else "2023-11-15"
    value = {"model": r.public_model, "key": r.key_id, "provider": r.provider}[group_by]
    return "-" if value is None else value


def expected_usage(records: list[UsageRecord], since: float, group_by: str) -> list[UsageRow]:
    groups: dict[str, UsageRow] = {}
    for r in records:
        if r.ts < since:
            continue
        g = groups.setdefault(_group(r, group_by), UsageRow(_group(r, group_by), 0, 0, 0, 0, 0, 0.0, 0))
        g.requests += 1
        g.prompt_tokens += r.prompt_tokens
        g.completion_tokens += r.completion_tokens
        g.cached_tokens += r.cached_tokens
        g.reasoning_tokens += r.reasoning_tokens
        g.cost_usd += r.cost_usd or 0.0
        g.errors += r.status >= 400
    return [groups[k] for k in sorted(groups, key=lambda s: s.encode())]


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    schema = None
    if request.param == "sqlite":
        s = open_store("sqlite:///ledger.db", tmp_path)
    else:
        await require_postgres()
        schema = new_schema()
        s = open_store(schema_url(schema), tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()
        if schema is not None:
            await drop_schema(schema)


@pytest.fixture()
async def filled(store: Store) -> Store:
    await store.insert_requests(RECORDS[:3])
    await store.insert_requests([])  # an empty batch is a no-op
    await store.insert_requests(RECORDS[3:])
    return store


@pytest.mark.parametrize("group_by", ["model", "key", "provider", "day", "tag:customer", "tag:feature", "tag:absent"])
async def test_usage_grouped_with_exact_sums(filled: Store, group_by: str) -> None:
    since = LATE - 1
    rows = await filled.usage(since, group_by)
    assert rows == expected_usage(RECORDS, since, group_by)
    assert sum(r.requests for r in rows) == 5  # the old row is before ``since``


async def test_usage_spells_out_groups(filled: Store) -> None:
    assert [(r.group, r.requests, r.errors) for r in await filled.usage(0, "key")] == [("-", 1, 1), ("k1", 3, 0), ("k2", 2, 1)]
    assert [r.group for r in await filled.usage(0, "provider")] == ["-", "down", "up"]
    assert [(r.group, r.cost_usd) for r in await filled.usage(LATE - 1, "day")] == [("2023-11-14", 0.375), ("2023-11-15", 0.5625)]
    assert await filled.usage(MIDNIGHT + 3600, "model") == []


async def test_spend_by_key_tag_and_all(filled: Store) -> None:
    since = LATE - 1
    assert await filled.spend(since, key_id="k1") == 0.375
    assert await filled.spend(0, key_id="k1") == 64.375
    assert await filled.spend(since, key_id="k2") == 0.5625
    assert await filled.spend(since, key_id="nobody") == 0.0
    assert await filled.spend(since, tag=("customer", "acme")) == 0.375
    assert await filled.spend(since, tag=("customer", "globex")) == 0.5
    assert await filled.spend(since, tag=("feature", "search")) == 0.25
    assert await filled.spend(since, tag=("customer", "initech")) == 0.0
    assert await filled.spend(since) == 0.9375
    assert await filled.spend(MIDNIGHT) == 0.5625


def _spend_of(records: list[UsageRecord], since: float, key_id: str | None = None, tag: tuple[str, str] | None = None) -> float:
    return sum(
        r.cost_usd or 0.0
        for r in records
        if r.ts >= since and (key_id is None or r.key_id == key_id) and (tag is None or (r.tags or {}).get(tag[0]) == tag[1])
    )


SCOPES = [{"key_id": "k1"}, {"key_id": "k2"}, {"key_id": "nobody"}, {"tag": ("customer", "acme")}, {"tag": ("customer", "globex")}, {"tag": ("feature", "chat")}, {"tag": ("feature", "search")}]


@pytest.mark.parametrize("since", [MIDNIGHT - 86400, MIDNIGHT, MIDNIGHT + 86400, 0.0])
async def test_spend_for_budget_periods_reads_the_daily_rollup(filled: Store, since: float) -> None:
    # Budget periods start at UTC midnight: those reads come from spend_daily, kept in the
    # same transaction as the rows; the answers must be the ledger's own sums.
    for scope in SCOPES:
        assert await filled.spend(since, **scope) == _spend_of(RECORDS, since, **scope), scope  # type: ignore[arg-type]


async def test_an_old_ledger_gets_its_daily_rollup_once(tmp_path: Path) -> None:
    # A ledger written before spend_daily existed (here: the table emptied behind the store's
    # back) is filled from its rows when a store opens it; a second open does not add it again.
    import sqlite3

    first = open_store("sqlite:///old.db", tmp_path)
    await first.start()
    await first.insert_requests(RECORDS)
    await first.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("DELETE FROM spend_daily")
    for _ in range(2):
        again = open_store("sqlite:///old.db", tmp_path)
        await again.start()
        try:
            for scope in SCOPES:
                assert await again.spend(MIDNIGHT - 86400, **scope) == _spend_of(RECORDS, MIDNIGHT - 86400, **scope), scope  # type: ignore[arg-type]
                assert await again.spend(0.0, **scope) == _spend_of(RECORDS, 0.0, **scope), scope  # type: ignore[arg-type]
        finally:
            await again.close()


async def test_an_old_postgres_ledger_gets_its_daily_rollup_once() -> None:
    await require_postgres()
    schema = new_schema()
    try:
        first = open_store(schema_url(schema), Path("."))
        await first.start()
        await first.insert_requests(RECORDS)
        await first.close()
        await fetch(schema_url(schema), "DELETE FROM spend_daily")
        for _ in range(2):
            again = open_store(schema_url(schema), Path("."))
            await again.start()
            try:
                for scope in SCOPES:
                    assert await again.spend(0.0, **scope) == _spend_of(RECORDS, 0.0, **scope), scope  # type: ignore[arg-type]
            finally:
                await again.close()
    finally:
        await drop_schema(schema)


async def test_bad_grouping_is_refused(store: Store) -> None:
    for bad in ("team", "tag:", "tag:a'b", "tag:x)--"):
        with pytest.raises(ValueError):
            await store.usage(0, bad)


async def test_keys_create_list_revoke(store: Store) -> None:
    one = KeyRow(id="key_1", name="search-app", hash="a" * 64, prefix="sk-edge-ab", created_at=100.0, models=["chat", "fast"], rpm=60, tpm=10000, budget_usd=12.5, period="day", tags={"team": "search"}, expires_at=5000.0)
    two = KeyRow(id="key_2", name="batch", hash="b" * 64, prefix="sk-edge-cd", created_at=200.0)
    await store.create_key(two)
    await store.create_key(one)
    assert await store.list_keys() == [one, two]  # by creation time, every field round-tripped
    assert await store.revoke_key("key_1", 300.0) is True
    assert await store.revoke_key("key_1", 400.0) is False  # already revoked: first time stands
    assert await store.revoke_key("batch", 500.0) is True  # by name
    assert await store.revoke_key("batch", 600.0) is False
    assert await store.revoke_key("no-such-key", 700.0) is False
    listed = {k.id: k for k in await store.list_keys()}
    assert listed["key_1"].revoked_at == 300.0 and listed["key_2"].revoked_at == 500.0
    assert listed["key_1"].models == ["chat", "fast"] and listed["key_1"].tags == {"team": "search"}
    assert listed["key_2"].models is None and listed["key_2"].tags is None


async def test_rows_keep_every_column(store: Store, tmp_path: Path) -> None:
    record = RECORDS[1]
    await store.insert_requests([record])
    if isinstance(store, PostgresStore):
        rows = await fetch(store.url, "SELECT stream, ttft_ms, reasoning_tokens, tags::text, ts FROM requests")
        assert [tuple(r) for r in rows] == [(1, 3.0, 2, '{"customer": "acme"}', LATE)]
    else:
        import sqlite3

        with sqlite3.connect(tmp_path / "ledger.db") as db:
            assert db.execute("SELECT stream, ttft_ms, reasoning_tokens, tags, ts FROM requests").fetchall() == [(1, 3.0, 2, '{"customer":"acme"}', LATE)]


# PostgreSQL only ---------------------------------------------------------------------------


def test_split_schema_reads_our_parameter_and_libpq_options() -> None:
    assert split_schema("postgresql://u:pw@h:5/db?schema=ledger") == ("postgresql://u:pw@h:5/db", "ledger", {"search_path": "ledger"})
    assert split_schema("postgresql://h/db?sslmode=disable&options=-csearch_path%3Dabc") == ("postgresql://h/db?sslmode=disable&options=-csearch_path%3Dabc", "abc", {})
    assert split_schema("postgres://h/db?search_path=s1,public")[1] == "s1"
    assert split_schema("postgresql://h/db") == ("postgresql://h/db", None, {})
    with pytest.raises(ValueError):
        split_schema('postgresql://h/db?schema=x";drop table y;--')


def test_password_stays_out_of_repr() -> None:
    assert "hunter2" not in repr(PostgresStore("postgresql://edge:hunter2@db.internal/ledger?schema=s"))


async def test_postgres_options_url_and_session_time_zone() -> None:
    """``options=-csearch_path=`` works and creates the schema; ``day`` stays UTC in Tokyo."""
    await require_postgres()
    schema = new_schema()
    store = PostgresStore(f"{PG_BASE}?options=-csearch_path%3D{schema}&timezone=Asia/Tokyo")
    try:
        await store.start()
        await store.insert_requests(RECORDS[:3])
        assert [r.group for r in await store.usage(0, "day")] == ["2023-11-14", "2023-11-15"]
        assert await fetch(schema_url(schema), "SELECT count(*) FROM requests") == [(3,)]
    finally:
        await store.close()
        await drop_schema(schema)


async def test_postgres_workers_start_together_on_a_new_schema() -> None:
    await require_postgres()
    schema = new_schema()
    stores = [PostgresStore(schema_url(schema)) for _ in range(6)]
    try:
        await asyncio.gather(*(s.start() for s in stores))  # no catalog race on CREATE ... IF NOT EXISTS
        await asyncio.gather(*(s.insert_requests(RECORDS) for s in stores))
        assert (await stores[0].usage(0, "model"))[0].requests == 6 * 4
    finally:
        await asyncio.gather(*(s.close() for s in stores))
        await drop_schema(schema)


async def test_postgres_cleans_text_it_would_refuse() -> None:
    """A NUL in a model name or tag must not poison the batch (and every batch after it)."""
    await require_postgres()
    schema = new_schema()
    store = PostgresStore(schema_url(schema))
    try:
        await store.start()
        bad = [_rec(10, LATE, public_model="ch\x00at", tags={"cust\x00omer": "ac\x00me"}, cost_usd=1.0), _rec(11, LATE, error_type="\udcff", cost_usd=2.0)]
        await store.insert_requests(bad + RECORDS[:1])
        assert [(r.group, r.requests) for r in await store.usage(0, "model")] == [("chat", 3)]
        assert await store.spend(0, tag=("customer", "acme")) == 1.25
    finally:
        await store.close()
        await drop_schema(schema)


async def test_postgres_unreachable_fails_fast() -> None:
    store = PostgresStore("postgresql://postgres:secret@127.0.0.1:9/test", connect_timeout_s=2)
    with pytest.raises(OSError):
        await store.start()
    await store.close()
