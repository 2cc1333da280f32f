"""Opening a SQLite ledger safely while other processes of the host open it too.

A host's workers (and each worker's writer process, edge.store.sqlite_writer) open the ledger
at the same moment when the gateway starts. Switching a new database to WAL needs its exclusive
lock; when two connections both hold the shared lock and ask for it, SQLite sees a deadlock and
answers one of them ``database is locked`` at once, without waiting out the busy timeout
(https://www.sqlite.org/lockingv3.html, "deadlock"; issue 16, item 9: a worker died of it).

So the first open is serialized across processes by an advisory lock on a file beside the
database (``<name>-open.lock``; flock(2), released when the holder closes it or dies), the busy
timeout is set before any statement, and a ``locked`` or ``busy`` answer to the pragma is
retried until the busy timeout is spent, for processes that do not take our lock (the
``sqlite3`` shell). A database already in WAL mode (every open after the first) skips the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["connect_ledger", "open_lock"]

BUSY_TIMEOUT_S = 10.0


@contextlib.contextmanager
def open_lock(path: Path) -> Iterator[None]:
    """Hold the host-wide lock that serializes first opens of the ledger at ``path``."""
    fd = os.open(path.with_name(path.name + "-open.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocking: only ever held for one first open
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _retry_locked(conn: sqlite3.Connection, sql: str, deadline: float) -> list[tuple[object, ...]]:
    pause = 0.005
    while True:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def connect_ledger(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S, setup: Callable[[sqlite3.Connection], None] | None = None) -> sqlite3.Connection:
    """A connection in WAL mode (autocommit, usable from any one thread at a time).

    ``setup`` (CREATE TABLE, one-time backfills) runs under the open lock, after WAL is on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # timeout= is the busy timeout, set by sqlite3 before it runs anything on the connection.
    conn = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout_s, isolation_level=None)
    try:
        deadline = time.monotonic() + busy_timeout_s
        if _retry_locked(conn, "PRAGMA journal_mode", deadline)[0][0] != "wal" or setup is not None:
            with open_lock(path):
                mode = _retry_locked(conn, "PRAGMA journal_mode=WAL", deadline)[0][0]
                if mode != "wal":
                    raise sqlite3.OperationalError(f"cannot put the ledger {path} in WAL mode (it stays {mode!r})")
                if setup is not None:
                    setup(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn
