"""Stored responses: what ``store: true`` keeps, in the ledger's database (SQLite or PostgreSQL).

One row per response: its id, the gateway key that made it (only that key reads it back), when
it expires (``responses.retention_days``, 30 by default), the response it continues
(``previous_response_id``), the route that answered (a follow-up prefers it), the response
object as the client got it and the input items of that turn. ``chain`` reads a response and
every one before it in one recursive query, so ``previous_response_id`` costs one round trip
whatever the length of the conversation, on every worker and instance that shares the
database. The gateway writes through edge/responses/pending.py (rows flushed together, off the
request path).

SQLite: the ledger's file. The gateway's rows are committed by the worker's ledger writer
process (edge.store.sqlite_writer): a thread of the worker writing them fought the event loop
for the GIL, which cost more than the insert (bench/README.md, the Responses section). Reads
use a connection of the worker's own from a worker thread (the event loop never waits on disk).
PostgreSQL: the ledger's URL (its ``?schema=`` included), a small pool. On both, writes made
while another is under way go together in one transaction (``_Batcher``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from ..store.sqlite_writer import WriterProcess

__all__ = ["ResponseStore", "StoredResponse", "insert_responses", "open_response_store"]

log = logging.getLogger("edge.responses")

_COLUMNS = "id, key_id, created_at, expires_at, previous_id, route, response, input"
_TABLE = """CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, key_id TEXT, created_at {real} NOT NULL, expires_at {real} NOT NULL,
    previous_id TEXT, route TEXT, response TEXT NOT NULL, input TEXT NOT NULL
)"""
# Expired rows are found by this index, not by reading the whole table.
_EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS responses_expires ON responses (expires_at)"
_PRUNE_EVERY = 256  # puts between two sweeps of expired rows
_MAX_DEPTH = 100_000


class StoredResponse(NamedTuple):
    id: str
    key_id: str | None
    created_at: float
    expires_at: float
    previous_id: str | None
    route: str | None
    response: str  # the response object, JSON
    input: str  # this turn's input items, a JSON array


class ResponseStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, row: StoredResponse) -> None: ...

    async def chain(self, response_id: str, key_id: str | None) -> list[StoredResponse]:
        """The response and those it continues, oldest first; empty when it is not there
        (never stored, deleted, expired, or made with another key)."""
        ...

    async def delete(self, response_id: str, key_id: str | None) -> bool: ...


def _chain_sql(mark: str, same_key: str, n: int) -> str:
    p = [f"{mark}{i}" if mark == "$" else "?" for i in range(1, n + 1)]
    return (
        f"WITH RECURSIVE chain({_COLUMNS}, depth) AS ("
        f"SELECT {_COLUMNS}, 0 FROM responses WHERE id = {p[0]} AND key_id {same_key} {p[1]} AND expires_at > {p[2]} "
        f"UNION ALL SELECT r.id, r.key_id, r.created_at, r.expires_at, r.previous_id, r.route, r.response, r.input, c.depth + 1 "
        f"FROM responses AS r JOIN chain AS c ON r.id = c.previous_id WHERE c.depth < {_MAX_DEPTH} AND r.expires_at > {p[3]} AND r.key_id {same_key} {p[4]}) "
        f"SELECT {_COLUMNS} FROM chain ORDER BY depth DESC"
    )


class _Batcher:
    """Puts made while a write is under way go together in the next one (group commit): under
    load one transaction and one thread hop carry many rows, and each put still returns only
    once its row is committed."""

    def __init__(self, write: Callable[[list[StoredResponse]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[tuple[StoredResponse, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def put(self, row: StoredResponse) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        await asyncio.shield(done)  # a caller that leaves does not cancel the others' write

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write([row for row, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=5.0)


class SQLiteResponses:
    """``writer``: the worker's ledger writer process (edge.store.sqlite_writer), which commits
    the rows off the worker's GIL; without one (tools, tests) a thread does."""

    def __init__(self, path: Path, writer: WriterProcess | None = None) -> None:
        self.path = path
        self._conn: Any = None
        self._lock = threading.Lock()
        self._puts = 0
        self._chain = _chain_sql("?", "IS", 5)
        self._writer = writer
        self._batch = _Batcher(self.write)

    async def start(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        from ..store.sqlite_open import connect_ledger

        def setup(conn: Any) -> None:
            conn.execute(_TABLE.format(real="REAL"))
            conn.execute(_EXPIRY_INDEX)

        self._conn = connect_ledger(self.path, setup=setup)
        self._prune_sync()

    async def close(self) -> None:
        await self._batch.close()
        if self._conn is not None:
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._lock:  # a write or read still running on it finishes first (edge.store.sqlite)
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            assert self._conn is not None, "response store not started"
            return list(self._conn.execute(sql, params).fetchall())

    def _prune_sync(self) -> None:
        self._run("DELETE FROM responses WHERE expires_at <= ?", (time.time(),))

    async def put(self, row: StoredResponse) -> None:
        await self._batch.put(row)

    async def write(self, rows: list[StoredResponse]) -> None:
        before, self._puts = self._puts, self._puts + len(rows)
        prune = before // _PRUNE_EVERY != self._puts // _PRUNE_EVERY
        if self._writer is not None:
            try:
                await self._writer.write_responses(rows, prune)
                return
            except (OSError, ConnectionError) as exc:  # the child is gone: write here this once
                log.warning("responses: the ledger writer process is gone (%s); writing from the worker", type(exc).__name__)
        await asyncio.to_thread(self._insert, rows, prune)

    def _insert(self, rows: list[StoredResponse], prune: bool) -> None:
        with self._lock:
            assert self._conn is not None, "response store not started"
            insert_responses(self._conn, rows, prune)

    async def chain(self, response_id: str, key_id: str | None) -> list[StoredResponse]:
        now = time.time()
        rows = await asyncio.to_thread(self._run, self._chain, (response_id, key_id, now, now, key_id))
        return [StoredResponse(*row) for row in rows]

    async def delete(self, response_id: str, key_id: str | None) -> bool:
        rows = await asyncio.to_thread(self._run, "DELETE FROM responses WHERE id = ? AND key_id IS ? AND expires_at > ? RETURNING id", (response_id, key_id, time.time()))
        return bool(rows)


class PostgresResponses:
    def __init__(self, url: str) -> None:
        from ..store.postgres import split_schema

        self._dsn, self._schema, self._settings = split_schema(url)
        self._pool: Any = None
        self._opening: asyncio.Future[None] | None = None
        self._closed = False
        self._puts = 0
        self._chain = _chain_sql("$", "IS NOT DISTINCT FROM", 5)
        self._batch = _Batcher(self.write)

    async def start(self) -> None:
        """Connect and make the table; a server that does not answer yet is not fatal (the
        gateway serves, as with the ledger): every call tries again until it does."""
        try:
            await self._need()
        except ConnectionError as exc:
            log.warning("responses: PostgreSQL is not answering (%s); stored responses wait for it", exc)

    async def _open(self) -> None:
        import asyncpg

        pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=4, timeout=10.0, command_timeout=30.0, server_settings=self._settings or None)
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", 0x6C6D2D7265737073)  # "lm-resps": one DDL at a time
                if self._schema is not None:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                await conn.execute(_TABLE.format(real="DOUBLE PRECISION"))
                await conn.execute(_EXPIRY_INDEX)
                await conn.execute("DELETE FROM responses WHERE expires_at <= $1", time.time())
        except BaseException:
            pool.terminate()
            raise
        if self._closed:
            pool.terminate()
            return
        self._pool = pool

    async def _need(self) -> Any:
        """The pool, opened on first need (one attempt at a time); ConnectionError while the
        server cannot be reached."""
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise ConnectionError("response store closed")
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except Exception as exc:
            raise ConnectionError(f"PostgreSQL not connected: {type(exc).__name__}") from None
        if self._pool is None:
            raise ConnectionError("response store closed")
        return self._pool

    async def close(self) -> None:
        self._closed = True
        await self._batch.close()
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def put(self, row: StoredResponse) -> None:
        await self._batch.put(row)

    async def write(self, rows: list[StoredResponse]) -> None:
        before, self._puts = self._puts, self._puts + len(rows)
        sql = (
            f"INSERT INTO responses ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (id) DO UPDATE SET "
            "key_id = EXCLUDED.key_id, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, previous_id = EXCLUDED.previous_id, "
            "route = EXCLUDED.route, response = EXCLUDED.response, input = EXCLUDED.input"
        )
        pool = await self._need()
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(sql, [tuple(row) for row in rows])
            if before // _PRUNE_EVERY != self._puts // _PRUNE_EVERY:
                await conn.execute("DELETE FROM responses WHERE expires_at <= $1", time.time())

    async def chain(self, response_id: str, key_id: str | None) -> list[StoredResponse]:
        now = time.time()
        rows = await (await self._need()).fetch(self._chain, response_id, key_id, now, now, key_id)
        return [StoredResponse(*tuple(row)) for row in rows]

    async def delete(self, response_id: str, key_id: str | None) -> bool:
        found = await (await self._need()).fetch("DELETE FROM responses WHERE id = $1 AND key_id IS NOT DISTINCT FROM $2 AND expires_at > $3 RETURNING id", response_id, key_id, time.time())
        return bool(found)


def insert_responses(conn: Any, rows: list[Any], prune: bool) -> None:
    """One SQLite transaction: the rows, and with ``prune`` the expired rows removed (run by the
    ledger writer process, or by a thread of the worker when there is none)."""
    conn.execute("BEGIN")
    try:
        conn.executemany(f"INSERT OR REPLACE INTO responses ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        if prune:
            conn.execute("DELETE FROM responses WHERE expires_at <= ?", (time.time(),))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def open_response_store(ledger_url: str, base: Path, writer: WriterProcess | None = None) -> SQLiteResponses | PostgresResponses:
    """The response store beside the ledger named by ``state.ledger``; ``writer``: the ledger's
    writer process (SQLite), which then commits the stored responses too."""
    if ledger_url.startswith("sqlite://"):
        from ..store.sqlite import sqlite_path

        path = sqlite_path(ledger_url, base)
        return SQLiteResponses(path, writer if writer is not None and writer.path == path else None)
    if ledger_url.startswith(("postgresql://", "postgres://")):
        return PostgresResponses(ledger_url)
    raise ValueError(f"unsupported ledger URL scheme in {ledger_url.split('://')[0]!r}")
