"""The SQLite ledger writer: a child process that inserts the rows a worker hands it.

Inserting from a thread of the worker made the writer and the event loop fight over the GIL on
every row (sqlite3 releases and re-takes it per row), which cost the worker several times the
insert itself (bench/PROFILE.md, bench/README.md). A child process has its own interpreter: the
worker only encodes each batch (msgpack, in C) and writes it to the child's stdin; the child
commits one transaction per batch and answers on stdout whether it did.

Frames both ways are a 4-byte big-endian length and a msgpack array. Worker to child:
``[seq, batch_id, rows]`` (a batch), ``[seq, "responses", rows, prune]`` (stored Responses API
responses, edge/responses/store.py: written the moment they come, since a follow-up on any
worker must find them once the client has its answer) or ``[seq]`` (sync: answer once
everything before it is committed). Child to worker: ``[seq, error]``, ``error`` null when the batch is committed (or was
already, edge.store.batches). A batch the database refuses (a full disk, a lock held too long)
is answered with the error and never retried here: the worker keeps it and spools it
(edge.ledger), so nothing is dropped. When the worker closes stdin (graceful stop) or dies (even
by kill -9), the child reads to the end, commits what it has, and exits, so a killed worker
loses no row it had already handed over.

Run as ``python -m edge.store.sqlite_writer PATH``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from .batches import SQLITE_CLAIM
from .schema import REQUEST_COLUMNS
from .spend import rollup
from .sqlite_open import connect_ledger

__all__ = ["WriterError", "WriterProcess", "insert_batch", "main"]

log = logging.getLogger("edge.ledger")

_LENGTH = struct.Struct(">I")
WRITER_NICE = 10
_INSERT = f"INSERT INTO requests ({','.join(REQUEST_COLUMNS)}) VALUES ({','.join('?' * len(REQUEST_COLUMNS))})"
_ADD_SPEND = "INSERT INTO spend_daily (scope, day, usd) VALUES (?, ?, ?) ON CONFLICT (scope, day) DO UPDATE SET usd = usd + excluded.usd"


class WriterError(Exception):
    """The writer process could not commit a batch (its message is SQLite's)."""


def insert_batch(conn: sqlite3.Connection, rows: list[Any], batch_id: str | None = None) -> bool:
    """One transaction: the batch's id, the ledger rows and their spend rollup (edge.store.spend).

    False (and nothing written) when a batch with this id was committed before.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if batch_id is not None and conn.execute(SQLITE_CLAIM, (batch_id, time.time())).rowcount == 0:
            conn.execute("ROLLBACK")
            return False
        conn.executemany(_INSERT, rows)
        conn.executemany(_ADD_SPEND, rollup(rows))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite rolls some failures (a full disk) back by itself
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return True


class WriterProcess:
    """The worker's side: start the child, hand it batches and wait for its answers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._encoder = msgspec.msgpack.Encoder()
        self._seq = 0
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._restarting = asyncio.Lock()
        self._closed = False

    def _gone(self) -> bool:
        return self._proc is None or self._proc.returncode is not None or (self._reader is not None and self._reader.done())

    async def start(self) -> None:
        self._closed = False
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.store.sqlite_writer", str(self.path), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read_answers(self._proc), name="edge-ledger-writer-answers")

    async def _read_answers(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        decoder = msgspec.msgpack.Decoder()
        try:
            while True:
                head = await proc.stdout.readexactly(_LENGTH.size)
                seq, error = decoder.decode(await proc.stdout.readexactly(_LENGTH.unpack(head)[0]))
                waiter = self._waiting.pop(seq, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(error)
        except (asyncio.IncompleteReadError, ConnectionError, msgspec.DecodeError):
            pass
        finally:  # the child is gone: nobody will answer what is still waiting
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("the ledger writer process exited"))
            self._waiting.clear()

    async def _call(self, frame: list[Any], timeout: float) -> str | None:
        if self._gone():
            if self._closed:
                raise ConnectionError("the ledger writer process is closed")
            async with self._restarting:  # the ledger and the response store may both find it gone
                if self._gone():
                    if self._proc is not None and self._proc.stdin is not None and not self._proc.stdin.is_closing():
                        self._proc.stdin.close()  # a child that stopped answering: EOF makes it finish and exit
                    await self.start()
        assert self._proc is not None and self._proc.stdin is not None
        self._seq += 1
        seq = self._seq
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting[seq] = waiter
        try:
            payload = self._encoder.encode([seq, *frame])
            self._proc.stdin.write(_LENGTH.pack(len(payload)) + payload)
            await self._proc.stdin.drain()
            # A late answer after a timeout is dropped; the batch id makes a second send safe.
            async with asyncio.timeout(timeout):  # not wait_for: see edge.tasks.stop_task
                return await waiter
        finally:
            self._waiting.pop(seq, None)

    async def write_responses(self, rows: Sequence[tuple[Any, ...]], prune: bool, timeout: float = 10.0) -> None:
        """Stored responses (edge/responses/store.py), committed in one transaction; ``prune``
        also removes the expired ones. Raises as ``write`` does."""
        error = await self._call(["responses", rows, prune], timeout)
        if error is not None:
            raise WriterError(error)

    async def sync(self, timeout: float = 10.0) -> None:
        """Wait until every batch handed over so far is committed (or refused)."""
        if self._proc is None or self._proc.returncode is not None:
            return
        await self._call([], timeout)

    async def write(self, rows: list[tuple[Any, ...]], batch_id: str | None = None, timeout: float = 10.0) -> None:
        """Hand a batch over and wait for its commit.

        Raises WriterError when the database refused it, OSError/ConnectionError when the child
        is gone, TimeoutError when it did not answer in time (the batch may still commit).
        """
        error = await self._call([batch_id, rows], timeout)
        if error is not None:
            raise WriterError(error)

    async def close(self, timeout: float = 30.0) -> None:
        self._closed = True
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
        if self._reader is not None:
            await self._reader
            self._reader = None


def _read_exact(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _answer(fd: int, encoder: msgspec.msgpack.Encoder, seq: int, error: str | None) -> bool:
    """Unbuffered, so nothing is left to fail again at exit once the worker is gone."""
    payload = encoder.encode([seq, error])
    data = _LENGTH.pack(len(payload)) + payload
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:  # the worker is gone (EPIPE); keep committing what it sent
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C or a service manager's SIGTERM reach the whole process group; the writer must
    # outlive its worker's drain and stop only when the worker closes its end (EOF).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Below the workers' priority: a batch is a few ms of CPU at once, and on a host with few
    # cores a writer at the same priority took a core from the request path now and then (c=1
    # p99 2.0 ms against 1.6 ms at nice 10, bench/README.md). It still gets about a tenth of a
    # busy core, several times what committing a saturated worker's rows takes.
    os.nice(WRITER_NICE)
    conn = connect_ledger(Path(args[0]))
    decoder = msgspec.msgpack.Decoder()
    encoder = msgspec.msgpack.Encoder()
    stdin, stdout = sys.stdin.buffer, sys.stdout.fileno()
    while True:
        head = _read_exact(stdin, _LENGTH.size)
        if head is None:  # the worker closed its end or died: everything handed over is written
            break
        payload = _read_exact(stdin, _LENGTH.unpack(head)[0])
        if payload is None:
            break  # a batch cut off by the worker's death was never complete
        frame = decoder.decode(payload)
        error = None
        try:
            if len(frame) == 3:
                insert_batch(conn, frame[2], frame[1])
            elif len(frame) == 4:  # stored Responses API responses (edge/responses/store.py)
                from ..responses.store import insert_responses

                insert_responses(conn, frame[2], frame[3])
        except sqlite3.Error as exc:
            error = f"{type(exc).__name__}: {exc}"
        if stdout >= 0 and not _answer(stdout, encoder, frame[0], error):
            stdout = -1
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
