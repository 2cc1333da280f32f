"""A ledger written before a column existed gets it when a store opens it (edge.store.schema
ADDED_COLUMNS): ``dropped_params``, the request fields a route did not get (issue 15). Both
backends: SQLite in a temp folder and a real PostgreSQL in a fresh schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.accounting import UsageRecord
from edge.store import open_store
from edge.store.schema import ADDED_COLUMNS, REQUEST_COLUMNS
from tests.edge.store.pg_server import _execute, drop_schema, fetch, new_schema, require_postgres, schema_url

_OLD = [c for c in REQUEST_COLUMNS if c not in dict(ADDED_COLUMNS)]
# The requests table as the first release made it (types loose: both engines take these).
_OLD_TABLE = "CREATE TABLE requests ({})".format(
    ", ".join(f"{c} {'DOUBLE PRECISION' if c in ('ts', 'cost_usd', 'latency_ms', 'ttft_ms') else 'BIGINT' if c.endswith(('tokens', 'attempts', 'status', 'stream', 'estimated', 'disconnected')) else 'TEXT'}" for c in _OLD)
)
_OLD_ROW = {c: None for c in _OLD} | {"request_id": "old-1", "ts": 1700000000.0, "public_model": "chat", "endpoint": "chat", "surface": "http", "stream": 0, "attempts": 1, "status": 200}
_OLD_ROW |= {c: 0 for c in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "estimated", "client_disconnected")} | {"latency_ms": 1.0}

NEW = UsageRecord(request_id="new-1", ts=1700000100.0, public_model="chat", status=200, provider="anthropic", dropped_params=["seed", "store"])


async def test_sqlite_ledger_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(_OLD_TABLE)
        db.execute(f"INSERT INTO requests ({','.join(_OLD)}) VALUES ({','.join('?' * len(_OLD))})", [_OLD_ROW[c] for c in _OLD])
    store = open_store("sqlite:///old.db", tmp_path)
    await store.start()
    try:
        await store.insert_requests([NEW])
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT request_id, dropped_params FROM requests ORDER BY ts").fetchall()
    assert rows == [("old-1", None), ("new-1", "seed,store")]
    # Opening it again changes nothing.
    store = open_store("sqlite:///old.db", tmp_path)
    await store.start()
    await store.close()


async def test_postgres_ledger_gains_the_column(tmp_path: Path) -> None:
    await require_postgres()
    schema = new_schema()
    url = schema_url(schema)
    try:
        await _execute(f'CREATE SCHEMA "{schema}"')
        await _execute(_OLD_TABLE.replace("CREATE TABLE requests", f'CREATE TABLE "{schema}".requests').replace("tags TEXT", "tags JSONB"))
        await _execute(f'INSERT INTO "{schema}".requests (request_id, ts, public_model, endpoint, surface, stream, attempts, status, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, estimated, latency_ms, client_disconnected) VALUES (\'old-1\', 1700000000, \'chat\', \'chat\', \'http\', 0, 1, 200, 0, 0, 0, 0, 0, 1.0, 0)')
        store = open_store(url, tmp_path)
        await store.start()
        try:
            await store.insert_requests([NEW])
        finally:
            await store.close()
        rows = await fetch(url, "SELECT request_id, dropped_params FROM requests ORDER BY ts")
        assert [tuple(r) for r in rows] == [("old-1", None), ("new-1", "seed,store")]
    finally:
        await drop_schema(schema)
