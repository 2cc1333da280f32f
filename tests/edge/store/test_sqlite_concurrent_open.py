"""Many processes opening one fresh SQLite ledger at the same instant (issue 16, item 9).

A worker once died on ``database is locked`` at ``PRAGMA journal_mode=WAL`` when two workers of
one host opened a new ledger together: switching a new database to WAL needs its exclusive
lock, and two connections that both hold the shared lock while asking for it deadlock, so
SQLite answers one of them at once instead of waiting out the busy timeout. Here eight
long-lived processes (store connections and writer-process connections, as a host's workers
open them) meet at a barrier and open a brand-new file together, round after round; every
open must succeed and leave a WAL ledger with the tables.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from tests.edge.store.concurrent_open import opener

PROCESSES = 8
ROUNDS = 100


def test_concurrent_first_opens_of_a_fresh_ledger_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork would copy pytest's threads
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    queues = [ctx.Queue() for _ in range(PROCESSES)]
    kinds = ["store" if i % 2 == 0 else "writer" for i in range(PROCESSES)]
    procs = [ctx.Process(target=opener, args=(kind, barrier, q, results), daemon=True) for kind, q in zip(kinds, queues)]
    for proc in procs:
        proc.start()
    failures: list[str] = []
    try:
        for round_ in range(ROUNDS):
            path = tmp_path / f"round-{round_}" / "edge.db"  # a new folder too: mkdir races as well
            for q in queues:
                q.put(str(path))
            answers = [results.get(timeout=60) for _ in range(PROCESSES)]
            failures += [f"round {round_}: {a}" for a in answers if a != "ok"]
            with sqlite3.connect(path) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"requests", "keys", "spend_daily"} <= tables
    finally:
        for q in queues:
            q.put(None)
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    assert not failures, f"{len(failures)} of {PROCESSES * ROUNDS} opens failed:\n" + "\n".join(failures[:10])
