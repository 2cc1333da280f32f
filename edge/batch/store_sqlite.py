"""The batch store on the SQLite ledger (one host; every worker of it shares the file).

Its own connection to the ledger's file (WAL), used from one thread at a time, every call in
a worker thread so the event loop never waits on disk. Writes are ``BEGIN IMMEDIATE``: the
write lock is taken at the start, so two workers claiming rows at once are serialized by
SQLite and never take the same row (edge.batch.store says what each call guarantees).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edge.store.spend import rollup
from edge.store.sqlite_open import connect_ledger

from . import sql
from .model import Claimed, FileRow, Finished, JobRow, NewRow
from .store import Outcome, expired_line, output_files, split_files, terminal_for

__all__ = ["SQLiteBatchStore"]

T = TypeVar("T")

_CLAIM = (
    "UPDATE batch_rows SET state = 'running', claim = ?, lease_until = ? WHERE batch_id = ? AND line IN ("
    "SELECT line FROM batch_rows WHERE batch_id = ? AND ((state = 'pending' AND not_before <= ?) OR (state = 'running' AND lease_until < ?)) "
    "ORDER BY line LIMIT ?) RETURNING batch_id, line, id, custom_id, url, raw"
)


def _owned(owner: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if owner is None else (" AND owner = ?", (owner,))


class SQLiteBatchStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        def setup(conn: sqlite3.Connection) -> None:
            conn.executescript(sql.DDL("BLOB", "REAL"))

        self._conn = await asyncio.to_thread(connect_ledger, self.path, setup=setup)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    def _sync(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        with self._lock:
            conn = self._conn
            assert conn is not None, "batch store not started"
            if not write:
                return work(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._sync, work, False)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._sync, work, True)

    def unavailable(self, exc: BaseException) -> bool:
        # A full disk, a lock held past the busy timeout, an I/O error (as edge.store.sqlite).
        return isinstance(exc, (sqlite3.OperationalError, OSError, TimeoutError))

    async def create_file(self, row: FileRow, data: bytes) -> None:
        values = (row.id, row.owner, row.purpose, row.filename, row.bytes, row.created_at, data)
        await self._write(lambda c: c.execute(sql.INSERT_FILE, values))

    async def get_file(self, owner: str | None, file_id: str) -> FileRow | None:
        where, extra = _owned(owner)
        rows = await self._read(lambda c: c.execute(f"SELECT {sql.FILE_COLUMNS} FROM files WHERE id = ?{where}", (file_id, *extra)).fetchall())
        return _file(rows[0]) if rows else None

    async def file_content(self, owner: str | None, file_id: str) -> bytes | None:
        where, extra = _owned(owner)
        rows = await self._read(lambda c: c.execute(f"SELECT data FROM files WHERE id = ?{where}", (file_id, *extra)).fetchall())
        return bytes(rows[0][0]) if rows else None

    async def list_files(self, owner: str | None, purpose: str | None, limit: int, after: str | None, ascending: bool) -> list[FileRow]:
        where, params = _owned(owner)
        if purpose is not None:
            where, params = where + " AND purpose = ?", (*params, purpose)
        if after is not None:
            where += f" AND created_at {'>' if ascending else '<'} COALESCE((SELECT created_at FROM files WHERE id = ?), 0)"
            params = (*params, after)
        order = "ASC" if ascending else "DESC"
        query = f"SELECT {sql.FILE_COLUMNS} FROM files WHERE 1 = 1{where} ORDER BY created_at {order}, id {order} LIMIT ?"
        rows = await self._read(lambda c: c.execute(query, (*params, limit)).fetchall())
        return [_file(r) for r in rows]

    async def delete_file(self, owner: str | None, file_id: str) -> bool:
        where, extra = _owned(owner)
        return bool(await self._write(lambda c: c.execute(f"DELETE FROM files WHERE id = ?{where}", (file_id, *extra)).rowcount))

    async def create_job(self, job: JobRow, rows: list[NewRow]) -> None:
        values = [(job.id, r.line, r.id, r.custom_id, r.url, r.raw, "failed" if r.failed_out else "pending", r.failed_out) for r in rows]

        def work(c: sqlite3.Connection) -> None:
            c.execute(sql.INSERT_JOB, job.values())
            c.executemany(sql.INSERT_ROW, values)

        await self._write(work)

    def _job(self, c: sqlite3.Connection, row: tuple[Any, ...]) -> JobRow:
        return JobRow.from_values(row, c.execute(sql.COUNTS, (row[0],)).fetchone())

    async def get_job(self, owner: str | None, batch_id: str) -> JobRow | None:
        where, extra = _owned(owner)

        def work(c: sqlite3.Connection) -> JobRow | None:
            found = c.execute(f"{sql.JOB_SELECT} WHERE id = ?{where}", (batch_id, *extra)).fetchall()
            return self._job(c, found[0]) if found else None

        return await self._read(work)

    async def list_jobs(self, owner: str | None, limit: int, after: str | None) -> list[JobRow]:
        where, params = _owned(owner)
        if after is not None:
            where += " AND created_at < COALESCE((SELECT created_at FROM batch_jobs WHERE id = ?), 0)"
            params = (*params, after)
        query = f"{sql.JOB_SELECT} WHERE 1 = 1{where} ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._read(lambda c: [self._job(c, r) for r in c.execute(query, (*params, limit)).fetchall()])

    async def active_jobs(self) -> list[JobRow]:
        rows = await self._read(lambda c: c.execute(f"{sql.JOB_SELECT} WHERE status IN ('in_progress', 'cancelling') ORDER BY created_at").fetchall())
        return [JobRow.from_values(r) for r in rows]

    async def claim(self, batch_id: str, claim: str, now: float, lease_until: float, limit: int) -> list[Claimed]:
        rows = await self._write(lambda c: c.execute(_CLAIM, (claim, lease_until, batch_id, batch_id, now, now, limit)).fetchall())
        return sorted((Claimed(*r) for r in rows), key=lambda r: r.line)

    async def renew(self, claim: str, lease_until: float) -> None:
        await self._write(lambda c: c.execute(sql.RENEW, (lease_until, claim)))

    async def release(self, batch_id: str, line: int, claim: str, not_before: float) -> None:
        await self._write(lambda c: c.execute(sql.RELEASE, (not_before, batch_id, line, claim)))

    async def finish(self, items: list[Finished]) -> int:
        def work(c: sqlite3.Connection) -> int:
            ledger = []
            for f in items:
                changed = c.execute(sql.FINISH, (f.state, f.status_code, f.out, f.prompt_tokens, f.completion_tokens, f.cached_tokens, f.reasoning_tokens, f.cost_usd, f.batch_id, f.line, f.claim)).rowcount
                if changed and f.ledger is not None:
                    ledger.append(f.ledger)
            c.executemany(sql.INSERT_LEDGER, ledger)
            c.executemany(sql.ADD_SPEND, rollup(ledger))
            return len(ledger)

        return await self._write(work)

    async def cancel(self, owner: str | None, batch_id: str, now: float) -> JobRow | None:
        where, extra = _owned(owner)

        def work(c: sqlite3.Connection) -> JobRow | None:
            c.execute(f"UPDATE batch_jobs SET status = 'cancelling', cancelling_at = ? WHERE id = ? AND status IN ('validating', 'in_progress'){where}", (now, batch_id, *extra))
            found = c.execute(f"{sql.JOB_SELECT} WHERE id = ?{where}", (batch_id, *extra)).fetchall()
            return self._job(c, found[0]) if found else None

        return await self._write(work)

    async def finalize(self, batch_id: str, now: float) -> str | None:
        def work(c: sqlite3.Connection) -> str | None:
            found = c.execute(f"{sql.JOB_SELECT} WHERE id = ?", (batch_id,)).fetchall()
            if not found:
                return None
            job = JobRow.from_values(found[0])
            open_rows = c.execute(sql.OPEN_ROWS, (batch_id,)).fetchone()[0]
            held = c.execute(sql.HELD_ROWS, (batch_id, now)).fetchone()[0]
            status = terminal_for(job.status, job.expires_at, now, open_rows, held)
            if status is None:
                return None
            if status == "expired":
                for line, row_id, custom_id in c.execute(sql.UNRUN, (batch_id,)).fetchall():
                    c.execute(sql.EXPIRE_ROW, (expired_line(row_id, custom_id), batch_id, line))
            files = output_files(job, c.execute(sql.OUTPUT, (batch_id,)).fetchall(), now)
            for row, data in files:
                c.execute(sql.INSERT_FILE, (row.id, row.owner, row.purpose, row.filename, row.bytes, row.created_at, data))
            update, params = Outcome(status, now).job_update(batch_id, *split_files(files))
            c.execute(update, params)
            return status

        return await self._write(work)

    async def failed_raw(self, batch_id: str) -> list[str]:
        return [r[0] for r in await self._read(lambda c: c.execute(sql.FAILED_RAW, (batch_id,)).fetchall())]


def _file(row: tuple[Any, ...]) -> FileRow:
    return FileRow(id=row[0], owner=row[1], purpose=row[2], filename=row[3], bytes=int(row[4]), created_at=float(row[5]))
