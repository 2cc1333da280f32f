"""Child side of test_sqlite_concurrent_open: a process that opens a fresh ledger on a barrier.

Each child waits for a path on its queue, meets every other child at the barrier (so they all
open the same new file at the same instant), opens it the way a worker does (the store's own
connection, or the writer process's), and reports ``ok`` or the error it got.
"""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path


def open_as(kind: str, path: Path) -> None:
    if kind == "writer":
        from edge.store.sqlite_open import connect_ledger

        connect_ledger(path).close()
        return
    from edge.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    store.open_sync()
    assert store._conn is not None
    store._conn.close()


def opener(kind: str, barrier: Barrier, paths: Queue, results: Queue) -> None:
    while True:
        path = paths.get()
        if path is None:
            return
        try:
            barrier.wait(30)
            open_as(kind, Path(path))
        except Exception as exc:  # the finding: the child reports it, the parent fails the test
            results.put(f"{kind}: {type(exc).__name__}: {exc}")
        else:
            results.put("ok")
