"""The batch store on the PostgreSQL ledger (several hosts share its batches).

Rows are claimed with ``FOR UPDATE SKIP LOCKED``: each instance takes the next rows no other
instance is taking, without waiting on them; a row's outcome is written with its ledger row
and spend in one transaction, and only while the claim is still its writer's (edge.batch.store).
The tables sit beside the ledger's, in its schema (``?schema=NAME``, edge.store.postgres).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from edge.store.guard import StoreUnavailable, describe
from edge.store.postgres import split_schema
from edge.store.schema import REQUEST_COLUMNS
from edge.store.spend import rollup

from . import sql
from .model import Claimed, FileRow, Finished, JobRow, NewRow
from .store import Outcome, expired_line, output_files, split_files, terminal_for

__all__ = ["PostgresBatchStore"]

log = logging.getLogger("edge.batch")

N = sql.numbered
_DDL_LOCK = 0x6C6C6D2D62617463  # "llm-batc": serializes CREATE ... IF NOT EXISTS across hosts
_CLAIM = N(
    "UPDATE batch_rows SET state = 'running', claim = ?, lease_until = ? WHERE batch_id = ? AND line IN ("
    "SELECT line FROM batch_rows WHERE batch_id = ? AND ((state = 'pending' AND not_before <= ?) OR (state = 'running' AND lease_until < ?)) "
    "ORDER BY line LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING batch_id, line, id, custom_id, url, raw"
)


def _owned(owner: str | None, used: int) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if owner is None else (f" AND owner = ${used + 1}", (owner,))


class PostgresBatchStore:
    """A server that cannot be reached at start does not stop the worker (as the ledger's own
    store, edge.store.postgres): each call tries to connect again, and until one does, the
    endpoints answer 503 store_unavailable and the runner waits."""

    def __init__(self, url: str, max_size: int = 4) -> None:
        self._dsn, self.schema, self._settings = split_schema(url)
        self._max = max_size
        self._ready: Any = None  # the pool, once its tables are there
        self._opening: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        try:
            await self._need()
        except StoreUnavailable as exc:
            log.warning("batch: PostgreSQL is not answering (%s); batches wait until it does", exc.message)

    async def _open(self) -> Any:
        import asyncpg

        pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self._max, timeout=10.0, command_timeout=60.0, server_settings=self._settings or None)
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                if self.schema is not None:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(sql.DDL("BYTEA", "DOUBLE PRECISION"))
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _need(self) -> Any:
        if self._ready is not None:
            return self._ready
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open())  # one connect at a time
        try:
            self._ready = await asyncio.shield(self._opening)
        except Exception as exc:
            raise StoreUnavailable(f"The batch store (PostgreSQL) is not answering: {describe(exc)}.", retry_after=1.0) from None
        return self._ready

    def unavailable(self, exc: BaseException) -> bool:
        import asyncpg

        if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
            return True
        state = getattr(exc, "sqlstate", None)
        return isinstance(state, str) and state[:2] in ("08", "53", "57", "58")  # as edge.store.postgres

    @property
    def _pool(self) -> Any:
        assert self._ready is not None, "use _need() first"
        return self._ready

    async def close(self) -> None:
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        pool, self._ready = self._ready, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except TimeoutError:
                pool.terminate()

    async def create_file(self, row: FileRow, data: bytes) -> None:
        await self._need()
        await self._pool.execute(N(sql.INSERT_FILE), row.id, row.owner, row.purpose, row.filename, row.bytes, row.created_at, data)

    async def get_file(self, owner: str | None, file_id: str) -> FileRow | None:
        await self._need()
        where, extra = _owned(owner, 1)
        found = await self._pool.fetchrow(f"SELECT {sql.FILE_COLUMNS} FROM files WHERE id = $1{where}", file_id, *extra)
        return _file(tuple(found)) if found else None

    async def file_content(self, owner: str | None, file_id: str) -> bytes | None:
        await self._need()
        where, extra = _owned(owner, 1)
        found = await self._pool.fetchrow(f"SELECT data FROM files WHERE id = $1{where}", file_id, *extra)
        return bytes(found[0]) if found else None

    async def list_files(self, owner: str | None, purpose: str | None, limit: int, after: str | None, ascending: bool) -> list[FileRow]:
        await self._need()
        where, params = _owned(owner, 0)
        if purpose is not None:
            params = (*params, purpose)
            where += f" AND purpose = ${len(params)}"
        if after is not None:
            params = (*params, after)
            where += f" AND created_at {'>' if ascending else '<'} COALESCE((SELECT created_at FROM files WHERE id = ${len(params)}), 0)"
        order = "ASC" if ascending else "DESC"
        rows = await self._pool.fetch(f"SELECT {sql.FILE_COLUMNS} FROM files WHERE 1 = 1{where} ORDER BY created_at {order}, id {order} LIMIT ${len(params) + 1}", *params, limit)
        return [_file(tuple(r)) for r in rows]

    async def delete_file(self, owner: str | None, file_id: str) -> bool:
        await self._need()
        where, extra = _owned(owner, 1)
        return bool(await self._pool.fetchval(f"WITH gone AS (DELETE FROM files WHERE id = $1{where} RETURNING 1) SELECT COUNT(*) FROM gone", file_id, *extra))

    async def create_job(self, job: JobRow, rows: list[NewRow]) -> None:
        await self._need()
        values = [(job.id, r.line, r.id, r.custom_id, r.url, r.raw, "failed" if r.failed_out else "pending", 0.0, r.failed_out) for r in rows]
        columns = ("batch_id", "line", "id", "custom_id", "url", "raw", "state", "not_before", "out")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(N(sql.INSERT_JOB), *job.values())
            await conn.copy_records_to_table("batch_rows", records=values, columns=columns)

    async def _job(self, conn: Any, row: Any) -> JobRow:
        return JobRow.from_values(tuple(row), tuple(await conn.fetchrow(N(sql.COUNTS), row[0])))

    async def get_job(self, owner: str | None, batch_id: str) -> JobRow | None:
        await self._need()
        where, extra = _owned(owner, 1)
        async with self._pool.acquire() as conn:
            found = await conn.fetchrow(f"{sql.JOB_SELECT} WHERE id = $1{where}", batch_id, *extra)
            return await self._job(conn, found) if found else None

    async def list_jobs(self, owner: str | None, limit: int, after: str | None) -> list[JobRow]:
        await self._need()
        where, params = _owned(owner, 0)
        if after is not None:
            params = (*params, after)
            where += f" AND created_at < COALESCE((SELECT created_at FROM batch_jobs WHERE id = ${len(params)}), 0)"
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"{sql.JOB_SELECT} WHERE 1 = 1{where} ORDER BY created_at DESC, id DESC LIMIT ${len(params) + 1}", *params, limit)
            return [await self._job(conn, r) for r in rows]

    async def active_jobs(self) -> list[JobRow]:
        await self._need()
        rows = await self._pool.fetch(f"{sql.JOB_SELECT} WHERE status IN ('in_progress', 'cancelling') ORDER BY created_at")
        return [JobRow.from_values(tuple(r)) for r in rows]

    async def claim(self, batch_id: str, claim: str, now: float, lease_until: float, limit: int) -> list[Claimed]:
        await self._need()
        rows = await self._pool.fetch(_CLAIM, claim, lease_until, batch_id, batch_id, now, now, limit)
        return sorted((Claimed(*tuple(r)) for r in rows), key=lambda r: r.line)

    async def renew(self, claim: str, lease_until: float) -> None:
        await self._need()
        await self._pool.execute(N(sql.RENEW), lease_until, claim)

    async def release(self, batch_id: str, line: int, claim: str, not_before: float) -> None:
        await self._need()
        await self._pool.execute(N(sql.RELEASE), not_before, batch_id, line, claim)

    async def finish(self, items: list[Finished]) -> int:
        await self._need()
        ledger = []
        async with self._pool.acquire() as conn, conn.transaction():
            for f in items:
                status = await conn.execute(N(sql.FINISH), f.state, f.status_code, f.out, f.prompt_tokens, f.completion_tokens, f.cached_tokens, f.reasoning_tokens, f.cost_usd, f.batch_id, f.line, f.claim)
                if status.endswith(" 1") and f.ledger is not None:
                    ledger.append(f.ledger)
            if ledger:
                await conn.copy_records_to_table("requests", records=ledger, columns=REQUEST_COLUMNS)
                await conn.executemany(N(sql.ADD_SPEND), rollup(ledger))
        return len(ledger)

    async def cancel(self, owner: str | None, batch_id: str, now: float) -> JobRow | None:
        await self._need()
        where, extra = _owned(owner, 2)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"UPDATE batch_jobs SET status = 'cancelling', cancelling_at = $1 WHERE id = $2 AND status IN ('validating', 'in_progress'){where}", now, batch_id, *extra)
            found = await conn.fetchrow(f"{sql.JOB_SELECT} WHERE id = $1{_owned(owner, 1)[0]}", batch_id, *extra)
            return await self._job(conn, found) if found else None

    async def finalize(self, batch_id: str, now: float) -> str | None:
        await self._need()
        async with self._pool.acquire() as conn, conn.transaction():
            # FOR UPDATE: two instances finalizing the same batch take turns; the second sees
            # the terminal status and does nothing.
            found = await conn.fetchrow(f"{sql.JOB_SELECT} WHERE id = $1 FOR UPDATE", batch_id)
            if found is None:
                return None
            job = JobRow.from_values(tuple(found))
            open_rows = await conn.fetchval(N(sql.OPEN_ROWS), batch_id)
            held = await conn.fetchval(N(sql.HELD_ROWS), batch_id, now)
            status = terminal_for(job.status, job.expires_at, now, open_rows, held)
            if status is None:
                return None
            if status == "expired":
                for line, row_id, custom_id in await conn.fetch(N(sql.UNRUN), batch_id):
                    await conn.execute(N(sql.EXPIRE_ROW), expired_line(row_id, custom_id), batch_id, line)
            files = output_files(job, [(r[0], r[1]) for r in await conn.fetch(N(sql.OUTPUT), batch_id)], now)
            for row, data in files:
                await conn.execute(N(sql.INSERT_FILE), row.id, row.owner, row.purpose, row.filename, row.bytes, row.created_at, data)
            update, params = Outcome(status, now).job_update(batch_id, *split_files(files))
            await conn.execute(N(update), *params)
            return status

    async def failed_raw(self, batch_id: str) -> list[str]:
        await self._need()
        return [r[0] for r in await self._pool.fetch(N(sql.FAILED_RAW), batch_id)]


def _file(row: tuple[Any, ...]) -> FileRow:
    return FileRow(id=row[0], owner=row[1], purpose=row[2], filename=row[3], bytes=int(row[4]), created_at=float(row[5]))
