"""Where batches live: the ledger's own database (SQLite on one host, PostgreSQL for several).

The contract both engines keep (edge.batch.store_sqlite, edge.batch.store_postgres):

- Creating a batch writes the job and all its rows in one transaction.
- ``claim`` hands each pending row (or a running one whose lease ended: its worker died) to
  exactly one worker: BEGIN IMMEDIATE on SQLite, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
  instances never wait on each other's rows. A worker renews the leases of the rows it holds.
- ``finish`` writes a row's outcome, its ledger row and its spend in one transaction, and only
  while the row is still the worker's (``claim`` matches, state running); a row it lost is
  dropped, so no row is written or billed twice.
- ``finalize`` turns a batch whose rows are all done (or its window passed, or it was
  cancelled) into its terminal status and output files, once: the status change is the guard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from edge.fastpath import jsonio

from .model import Claimed, FileRow, Finished, JobRow, NewRow, new_id
from .parse import error_line

__all__ = ["BatchStore", "Outcome", "expired_line", "open_batch_store", "terminal_for"]

EXPIRED = "This request could not be executed before the completion window expired."


class BatchStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create_file(self, row: FileRow, data: bytes) -> None: ...

    async def get_file(self, owner: str | None, file_id: str) -> FileRow | None: ...

    async def file_content(self, owner: str | None, file_id: str) -> bytes | None: ...

    async def list_files(self, owner: str | None, purpose: str | None, limit: int, after: str | None, ascending: bool) -> list[FileRow]: ...

    async def delete_file(self, owner: str | None, file_id: str) -> bool: ...

    async def create_job(self, job: JobRow, rows: list[NewRow]) -> None: ...

    async def get_job(self, owner: str | None, batch_id: str) -> JobRow | None: ...

    async def list_jobs(self, owner: str | None, limit: int, after: str | None) -> list[JobRow]: ...

    async def active_jobs(self) -> list[JobRow]:
        """Batches in progress or cancelling, without their counts."""
        ...

    async def claim(self, batch_id: str, claim: str, now: float, lease_until: float, limit: int) -> list[Claimed]: ...

    async def renew(self, claim: str, lease_until: float) -> None: ...

    async def release(self, batch_id: str, line: int, claim: str, not_before: float) -> None:
        """Give a claimed row back unrun (its key's limit said wait), to run after not_before."""
        ...

    async def finish(self, items: list[Finished]) -> int:
        """Write the outcomes still held by their claims; returns how many were written."""
        ...

    async def cancel(self, owner: str | None, batch_id: str, now: float) -> JobRow | None: ...

    async def finalize(self, batch_id: str, now: float) -> str | None:
        """The batch's terminal status when this call finished it, else None."""
        ...

    async def failed_raw(self, batch_id: str) -> list[str]:
        """The input lines of a batch's failed rows, in order (for a retry)."""
        ...

    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the database cannot answer now (the endpoints answer 503)."""
        ...


class Outcome:
    """What ``finalize`` decided, computed the same way by both engines."""

    def __init__(self, status: str, now: float) -> None:
        self.status = status
        self.now = now

    def job_update(self, job_id: str, output_id: str | None, error_id: str | None) -> tuple[str, tuple[Any, ...]]:
        """The UPDATE of the job's status, times and file ids (``?`` placeholders)."""
        stamp = {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[self.status]
        sql = f"UPDATE batch_jobs SET status = ?, finalizing_at = ?, {stamp} = ?, output_file_id = ?, error_file_id = ? WHERE id = ?"
        return sql, (self.status, self.now, self.now, output_id, error_id, job_id)


def terminal_for(status: str, expires_at: float | None, now: float, open_rows: int, held_rows: int) -> str | None:
    """The status a batch ends in now, or None while it must go on.

    A batch in progress completes once no row is pending or held; it expires when its window
    passed first. A cancelling batch ends once no live worker holds a row of it.
    """
    if status == "in_progress":
        if open_rows == 0:
            return "completed"
        if expires_at is not None and now >= expires_at:
            return "expired"
        return None
    if status == "cancelling" and held_rows == 0:
        return "cancelled"
    return None


def expired_line(row_id: str, custom_id: str | None) -> str:
    return error_line(row_id, custom_id, "batch_expired", EXPIRED)


def output_files(job: JobRow, rows: list[tuple[str, str]], now: float) -> list[tuple[FileRow, bytes]]:
    """The output file (rows answered 2xx) and error file (the rest), each only when not empty."""
    ok = [out for state, out in rows if state == "done"]
    bad = [out for state, out in rows if state != "done"]
    files = []
    for kind, lines in (("output", ok), ("error", bad)):
        if lines:
            data = ("\n".join(lines) + "\n").encode()
            files.append((FileRow(id=new_id("file-"), owner=job.owner, purpose="batch_output", filename=f"{job.id}_{kind}.jsonl", bytes=len(data), created_at=now), data))
    return files


def split_files(files: list[tuple[FileRow, bytes]]) -> tuple[str | None, str | None]:
    output = next((f.id for f, _ in files if f.filename.endswith("_output.jsonl")), None)
    error = next((f.id for f, _ in files if f.filename.endswith("_error.jsonl")), None)
    return output, error


def tags_json(tags: dict[str, str] | None) -> str | None:
    return jsonio.dumps(tags).decode() if tags else None


def open_batch_store(url: str, base: Path) -> BatchStore:
    """The batch store on ``state.ledger``'s database (its tables beside the ledger's)."""
    if url.startswith("sqlite://"):
        from edge.store.sqlite import sqlite_path

        from .store_sqlite import SQLiteBatchStore

        return SQLiteBatchStore(sqlite_path(url, base))
    if url.startswith(("postgresql://", "postgres://")):
        from .store_postgres import PostgresBatchStore

        return PostgresBatchStore(url)
    raise ValueError(f"unsupported ledger URL scheme in {url.split('://')[0]!r}")
