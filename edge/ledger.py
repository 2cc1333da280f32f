"""The usage ledger: one row per request, written off the hot path in batches.

Records queue in memory and a background task flushes them every ``flush_interval_s`` (or sooner
when ``batch_size`` pile up) through a worker thread, so the event loop never waits on disk. A
graceful shutdown flushes what is queued; kill -9 loses at most the last interval. SQLite (WAL,
safe for several worker processes on one host) is the embedded default.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

from edge.fastpath import jsonio

from .accounting import UsageRecord

__all__ = ["SQLiteLedger", "open_ledger", "sqlite_path"]

log = logging.getLogger("edge.ledger")

_COLUMNS = (
    "request_id", "ts", "key_id", "public_model", "provider", "upstream_model", "endpoint", "surface", "stream",
    "attempts", "status", "error_type", "prompt_tokens", "completion_tokens", "cached_tokens",
    "reasoning_tokens", "estimated", "cost_usd", "latency_ms", "ttft_ms", "client_disconnected", "fallback_reason", "attempt_log", "tags",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    key_id TEXT,
    public_model TEXT NOT NULL,
    provider TEXT,
    upstream_model TEXT,
    endpoint TEXT NOT NULL,
    surface TEXT NOT NULL,
    stream INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error_type TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cost_usd REAL,
    latency_ms REAL NOT NULL,
    ttft_ms REAL,
    client_disconnected INTEGER NOT NULL,
    fallback_reason TEXT,
    attempt_log TEXT,
    tags TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""


def sqlite_path(url: str, base: Path) -> Path:
    """SQLAlchemy's convention: sqlite:///rel.db is relative (to ``base``), sqlite:////abs.db absolute."""
    path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
    return path if path.is_absolute() else base / path


def _row(r: UsageRecord) -> tuple[object, ...]:
    return (
        r.request_id, r.ts, r.key_id, r.public_model, r.provider, r.upstream_model, r.endpoint, r.surface, int(r.stream),
        r.attempts, r.status, r.error_type, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
        r.reasoning_tokens, int(r.estimated), r.cost_usd, r.latency_ms, r.ttft_ms, int(r.client_disconnected),
        r.fallback_reason, jsonio.encode_struct(r.attempt_log).decode() if r.attempt_log else None,
        jsonio.dumps(r.tags).decode() if r.tags else None,
    )


class SQLiteLedger:
    """A record sink that batches rows into SQLite from a single writer thread."""

    def __init__(self, path: Path, flush_interval_s: float = 0.5, batch_size: int = 512) -> None:
        self.path = path
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._pending: list[tuple[object, ...]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()  # one connection, used by one thread at a time
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._open)
        self._task = asyncio.create_task(self._run(), name="edge-ledger")

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def add(self, record: UsageRecord) -> None:
        self._pending.append(_row(record))
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            await asyncio.to_thread(self._write, rows)
        except Exception:
            # A failing disk must not take requests down with it; keep the rows for the next try.
            log.exception("ledger write failed; %d rows kept for retry", len(rows))
            self._pending[:0] = rows

    def _write(self, rows: list[tuple[object, ...]]) -> None:
        with self._lock:
            assert self._conn is not None
            placeholders = ",".join("?" * len(_COLUMNS))
            self._conn.execute("BEGIN")
            self._conn.executemany(f"INSERT INTO requests ({','.join(_COLUMNS)}) VALUES ({placeholders})", rows)
            self._conn.execute("COMMIT")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None


def open_ledger(url: str, base: Path) -> SQLiteLedger:
    if url.startswith("sqlite://"):
        return SQLiteLedger(sqlite_path(url, base))
    raise NotImplementedError("a PostgreSQL ledger is not available yet: use state.ledger: sqlite:///path")
