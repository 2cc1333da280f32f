"""The SQLite store: the embedded default for one host (WAL; safe for several workers).

Every call runs in a worker thread on one connection, so the event loop never waits on disk.
Paths follow SQLAlchemy's convention: ``sqlite:///rel.db`` is relative to the config file's
folder, ``sqlite:////abs.db`` absolute.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..accounting import UsageRecord
from .base import KeyRow, UsageRow, check_grouping, usage_row
from .batches import KEEP_S, SQLITE_PRUNE, SQLITE_TABLE
from .reports import AttemptsRow, RouteStatsRow, SeriesRow, attempt_rows, attempts_sql, errors_sql, latency_sql, route_stats, series_rows, series_sql
from .schema import ADDED_COLUMNS, KEY_COLUMNS, key_from_row, key_row, request_rows
from .spend import DAY, day_of, scope_of
from .sqlite_open import connect_ledger
from .sqlite_writer import WriterError, WriterProcess, insert_batch

__all__ = ["SQLiteStore", "sqlite_path"]

log = logging.getLogger("edge.ledger")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT NOT NULL, ts REAL NOT NULL, key_id TEXT, public_model TEXT NOT NULL,
    provider TEXT, upstream_model TEXT, endpoint TEXT NOT NULL, surface TEXT NOT NULL,
    stream INTEGER NOT NULL, attempts INTEGER NOT NULL, status INTEGER NOT NULL, error_type TEXT,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL,
    ttft_ms REAL, client_disconnected INTEGER NOT NULL, fallback_reason TEXT, attempt_log TEXT, tags TEXT,
    dropped_params TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests (key_id, ts);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
    created_at REAL NOT NULL, models TEXT, rpm INTEGER, tpm INTEGER, budget_usd REAL,
    period TEXT NOT NULL, tags TEXT, expires_at REAL, revoked_at REAL
);
CREATE TABLE IF NOT EXISTS spend_daily (
    scope TEXT NOT NULL, day INTEGER NOT NULL, usd REAL NOT NULL, PRIMARY KEY (scope, day)
) WITHOUT ROWID;
""" + SQLITE_TABLE

# A ledger written before spend_daily existed: fill it from the rows, once (edge.store.spend).
_BACKFILL = (
    "INSERT INTO spend_daily (scope, day, usd) SELECT 'key:' || key_id, CAST(ts / 86400 AS INTEGER), SUM(cost_usd) "
    "FROM requests WHERE key_id IS NOT NULL AND cost_usd != 0 GROUP BY 1, 2",
    "INSERT INTO spend_daily (scope, day, usd) SELECT 'tag:' || j.key || '=' || j.value, CAST(r.ts / 86400 AS INTEGER), SUM(r.cost_usd) "
    "FROM requests AS r, json_each(r.tags) AS j WHERE r.tags IS NOT NULL AND r.cost_usd != 0 AND j.type = 'text' GROUP BY 1, 2",
)

_GROUP_SQL = {
    "model": "public_model",
    "key": "COALESCE(key_id, '-')",
    "provider": "COALESCE(provider, '-')",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
}


def _create_tables(conn: sqlite3.Connection) -> None:
    """The tables, the columns an older ledger lacks, and the spend rollup filled once for a
    ledger from before it (edge.store.spend).

    Runs under edge.store.sqlite_open's lock, so two workers opening an old ledger fill it once.
    """
    conn.executescript(_SCHEMA)
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
        for column, sql_type in ADDED_COLUMNS:  # a ledger from an older version
            if column not in have:
                conn.execute(f"ALTER TABLE requests ADD COLUMN {column} {sql_type}")
        if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM spend_daily)").fetchone()[0]:
            for sql in _BACKFILL:
                conn.execute(sql)
        conn.execute(SQLITE_PRUNE, (time.time() - KEEP_S,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def sqlite_path(url: str, base: Path) -> Path:
    path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
    return path if path.is_absolute() else base / path


class SQLiteStore:
    def __init__(self, path: Path, writer_process: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()  # one connection, used by one thread at a time
        self._conn: sqlite3.Connection | None = None
        # The server hands ledger rows to a child process (edge.store.sqlite_writer: no GIL
        # shared with the event loop); tools and tests that open a store write from a thread.
        self._writer = WriterProcess(path) if writer_process else None

    @property
    def writer(self) -> WriterProcess | None:
        """The writer process (server stores), which the response store shares."""
        return self._writer

    async def start(self) -> None:
        await asyncio.to_thread(self.open_sync)
        if self._writer is not None:
            await self._writer.start()

    def open_sync(self) -> None:
        self._conn = connect_ledger(self.path, setup=_create_tables)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._conn is not None:
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        # Under the lock: a call the guard stopped waiting for may still run on this connection
        # in a worker thread, and closing a sqlite3 connection under a running statement can
        # crash the process (seen: a segfault in insert_batch).
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, sql: str, params: Any = (), many: bool = False) -> list[tuple[Any, ...]]:
        with self._lock:
            assert self._conn is not None, "store not started"
            if many:
                self._conn.execute("BEGIN")
                try:
                    self._conn.executemany(sql, params)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return []
            return self._conn.execute(sql, params).fetchall()

    async def _call(self, sql: str, params: Any = (), many: bool = False) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._run, sql, params, many)

    async def sync(self) -> None:
        """Rows handed to the writer process are committed (for reads that must see them)."""
        if self._writer is not None:
            await self._writer.sync()

    async def insert_requests(self, records: list[UsageRecord], batch_id: str | None = None) -> None:
        rows = await request_rows(records)
        if self._writer is not None:
            try:
                await self._writer.write(rows, batch_id)
                return
            except (OSError, ConnectionError) as exc:  # the child died: write here this once
                log.warning("ledger writer process is gone (%s); writing from the worker, restarting it", type(exc).__name__)
        await asyncio.to_thread(self._insert, rows, batch_id)

    def _insert(self, rows: list[tuple[Any, ...]], batch_id: str | None) -> None:
        with self._lock:
            assert self._conn is not None, "store not started"
            insert_batch(self._conn, rows, batch_id)

    def unavailable(self, exc: BaseException) -> bool:
        # OperationalError: a full disk, a lock held past the busy timeout, an I/O error, a
        # read-only file; an error the writer process reports is one of those.
        return isinstance(exc, (sqlite3.OperationalError, WriterError, OSError, TimeoutError)) or type(exc) is sqlite3.DatabaseError

    async def list_keys(self) -> list[KeyRow]:
        return [key_from_row(row) for row in await self._call(f"SELECT {','.join(KEY_COLUMNS)} FROM keys ORDER BY created_at")]

    async def find_key(self, digest: str) -> KeyRow | None:
        rows = await self._call(f"SELECT {','.join(KEY_COLUMNS)} FROM keys WHERE hash = ?", (digest,))
        return key_from_row(rows[0]) if rows else None

    async def create_key(self, key: KeyRow) -> None:
        placeholders = ",".join("?" * len(KEY_COLUMNS))
        await self._call(f"INSERT INTO keys ({','.join(KEY_COLUMNS)}) VALUES ({placeholders})", [key_row(key)], many=True)

    async def revoke_key(self, key_id: str, when: float) -> bool:
        found = await self._call("UPDATE keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL RETURNING id", (when, key_id, key_id))
        return bool(found)

    async def spend(self, since: float, *, key_id: str | None = None, tag: tuple[str, str] | None = None) -> float:
        scope = scope_of(key_id, tag)
        if scope is not None and since % DAY == 0:  # a budget period: whole UTC days, the rollup
            rows = await self._call("SELECT COALESCE(SUM(usd), 0) FROM spend_daily WHERE scope = ? AND day >= ?", (scope, day_of(since)))
        elif key_id is not None:
            rows = await self._call("SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= ? AND key_id = ?", (since, key_id))
        elif tag is not None:
            rows = await self._call("SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= ? AND json_extract(tags, ?) = ?", (since, f'$."{tag[0]}"', tag[1]))
        else:
            rows = await self._call("SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= ?", (since,))
        return float(rows[0][0])

    async def usage(self, since: float, group_by: str) -> list[UsageRow]:
        check_grouping(group_by)
        params: list[Any] = []
        if group_by.startswith("tag:"):
            expr = "COALESCE(json_extract(tags, ?), '-')"
            params.append(f'$."{group_by[4:]}"')
        else:
            expr = _GROUP_SQL[group_by]
        params.append(since)
        rows = await self._call(
            f"SELECT {expr} AS g, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), "
            f"SUM(reasoning_tokens), COALESCE(SUM(cost_usd), 0), SUM(status >= 400), "
            f"SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_hit), COALESCE(SUM(saved_usd), 0) FROM requests WHERE ts >= ? GROUP BY g ORDER BY g",
            params,
        )
        return [usage_row(row) for row in rows]

    def _report_sync(self, queries: list[tuple[str, Any]]) -> list[list[tuple[Any, ...]]]:
        # Dashboard reports scan a period's rows and can take a while on a big ledger: they get
        # a read-only connection of their own (WAL lets it read beside the writer), so they never
        # hold the lock that key reloads and budget reads wait on.
        conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10.0)
        try:
            return [conn.execute(sql, params).fetchall() for sql, params in queries]
        finally:
            conn.close()

    async def _report(self, *queries: tuple[str, Any]) -> list[list[tuple[Any, ...]]]:
        return await asyncio.to_thread(self._report_sync, list(queries))

    async def usage_series(self, since: float, bucket_s: float, group_by: str) -> list[SeriesRow]:
        expr, params = _grouping(group_by)
        [rows] = await self._report((series_sql("CAST(ts / ? AS INTEGER)", expr, "?"), [bucket_s, *params, since]))
        return series_rows(rows)

    async def route_stats(self, since: float) -> list[RouteStatsRow]:
        latency, errors = await self._report((latency_sql("?"), (since,)), (errors_sql("?"), (since,)))
        return route_stats(latency, errors)

    async def recent_attempts(self, since: float, limit: int) -> list[AttemptsRow]:
        [rows] = await self._report((attempts_sql("?", "?"), (since, limit)))
        return attempt_rows(rows)


def _grouping(group_by: str) -> tuple[str, list[Any]]:
    """The SQL expression of a grouping and the parameters it needs."""
    check_grouping(group_by)
    if group_by.startswith("tag:"):
        return "COALESCE(json_extract(tags, ?), '-')", [f'$."{group_by[4:]}"']
    return _GROUP_SQL[group_by], []
