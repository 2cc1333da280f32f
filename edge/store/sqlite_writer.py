"""The SQLite ledger writer: a child process that inserts the rows a worker hands it.

Inserting from a thread of the worker made the writer and the event loop fight over the GIL on
every row (sqlite3 releases and re-takes it per row), which cost the worker several times the
insert itself (bench/PROFILE.md, bench/README.md). A child process has its own interpreter: the
worker only encodes each batch (msgpack, in C) and writes it to the child's stdin, framed by a
4-byte big-endian length; the child commits one transaction per batch. An empty frame asks
the child to answer one byte on stdout once everything before it is committed (``sync``), for
readers that must see the rows at once (GET /v1/usage). When the worker closes
stdin (graceful stop) or dies (even by kill -9), the child reads to the end, commits what it
has, and exits, so a killed worker loses no row it had already handed over.

Run as ``python -m edge.store.sqlite_writer PATH``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import struct
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from .schema import REQUEST_COLUMNS
from .spend import rollup

__all__ = ["WriterProcess", "insert_batch", "main"]

log = logging.getLogger("edge.ledger")

_LENGTH = struct.Struct(">I")
_INSERT = f"INSERT INTO requests ({','.join(REQUEST_COLUMNS)}) VALUES ({','.join('?' * len(REQUEST_COLUMNS))})"
_ADD_SPEND = "INSERT INTO spend_daily (scope, day, usd) VALUES (?, ?, ?) ON CONFLICT (scope, day) DO UPDATE SET usd = usd + excluded.usd"


def insert_batch(conn: sqlite3.Connection, rows: list[Any]) -> None:
    """One transaction: the ledger rows and their spend rollup (edge.store.spend)."""
    conn.execute("BEGIN")
    try:
        conn.executemany(_INSERT, rows)
        conn.executemany(_ADD_SPEND, rollup(rows))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class WriterProcess:
    """The worker's side: start the child, hand it batches, stop it cleanly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None
        self._encoder = msgspec.msgpack.Encoder()
        self._sync_lock = asyncio.Lock()

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.store.sqlite_writer", str(self.path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )

    async def sync(self, timeout: float = 10.0) -> None:
        """Wait until every batch handed over so far is committed."""
        if self._proc is None or self._proc.returncode is not None:
            return
        assert self._proc.stdin is not None and self._proc.stdout is not None
        async with self._sync_lock:
            self._proc.stdin.write(_LENGTH.pack(0))
            await self._proc.stdin.drain()
            await asyncio.wait_for(self._proc.stdout.readexactly(1), timeout)

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Hand a batch over; raises OSError/ConnectionError when the child is gone."""
        if self._proc is None or self._proc.returncode is not None:
            await self.start()
        assert self._proc is not None and self._proc.stdin is not None
        payload = self._encoder.encode(rows)
        self._proc.stdin.write(_LENGTH.pack(len(payload)) + payload)
        await self._proc.stdin.drain()

    async def close(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log.error("ledger writer did not finish in %g s; stopping it", timeout)
            proc.kill()
            await proc.wait()


def _read_exact(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _insert(conn: sqlite3.Connection, rows: list[Any]) -> None:
    for attempt in range(5):
        try:
            insert_batch(conn, rows)
            return
        except sqlite3.OperationalError as exc:  # another worker's writer held the lock too long
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if attempt == 4:
                print(f"edge ledger writer: dropped {len(rows)} rows: {exc}", file=sys.stderr)
            else:
                time.sleep(0.2 * (attempt + 1))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C or a service manager's SIGTERM reach the whole process group; the writer must
    # outlive its worker's drain and stop only when the worker closes its end (EOF).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = sqlite3.connect(args[0], timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    decoder = msgspec.msgpack.Decoder()
    stdin = sys.stdin.buffer
    while True:
        head = _read_exact(stdin, _LENGTH.size)
        if head is None:  # the worker closed its end or died: everything handed over is written
            break
        size = _LENGTH.unpack(head)[0]
        if size == 0:  # sync: everything before this frame is committed
            sys.stdout.buffer.write(b"\x01")
            sys.stdout.buffer.flush()
            continue
        payload = _read_exact(stdin, size)
        if payload is None:
            break  # a batch cut off by the worker's death was never complete
        _insert(conn, decoder.decode(payload))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
