"""Stopping the ledger (issue 16, item 5): a stop is never lost and never leaves a write behind.

On Python 3.11 ``asyncio.wait_for`` returns the inner result instead of raising when a
cancellation arrives in the same turn as that result (bpo-42130), so a background loop around
wait_for can swallow the one cancellation a stop sends and run on. The ledger's loop was such a
loop, and so were the waits in the store's guard and the SQLite writer: under load a worker's
``Ledger.close()`` waited forever (seen in a soak of this file's shape: one of two workers never
exited on SIGTERM, and its supervisor killed it 15 s later without a word, exiting 0). And a
cancellation that did land in the middle of a write left the batch to a call nobody waited for,
while the shutdown went on and closed the store under it (a segfault in insert_batch, seen with
the thread writer).

Now ``stop_task`` sends the cancellation again until the task ends, and the ledger's loop is not
cancelled at all: ``close()`` raises a flag and waits for the write under way. Real stores on
real files (the SQLite writer process, as the gateway runs it).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from edge.accounting import UsageRecord
from edge.ledger import Ledger
from edge.store.guard import GuardedStore
from edge.store.spool import SpoolFile, encode_frame
from edge.store.sqlite import SQLiteStore
from edge.tasks import stop_task

HANG_S = 30.0  # a stop that has not ended by then never will (it only guards against a hang)


async def test_stop_task_stops_a_loop_whose_wait_for_swallowed_the_cancellation() -> None:
    woke = asyncio.Event()
    turns = 0

    async def loop() -> None:  # the shape of every background loop that waits with wait_for
        nonlocal turns
        while True:
            try:
                await asyncio.wait_for(woke.wait(), 60)
            except TimeoutError:
                pass
            woke.clear()
            turns += 1

    for _ in range(20):
        task = asyncio.create_task(loop())
        await asyncio.sleep(0)  # the loop waits
        woke.set()  # ... its wake-up and the stop come in the same turn: 3.11 swallows the cancel
        async with asyncio.timeout(HANG_S):
            await stop_task(task)
        assert task.cancelled()
    assert turns >= 1  # the wake-up did run: the cancellation came after it, and was sent again


def _records(prefix: str, n: int) -> list[UsageRecord]:
    return [UsageRecord(request_id=f"{prefix}-{i}", ts=time.time(), public_model="chat", status=200) for i in range(n)]


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


async def test_close_writes_every_row_even_while_a_batch_is_in_flight(tmp_path: Path) -> None:
    # A ledger flushing often under a steady trickle of rows, closed at varied moments: some
    # closes land while a batch is with the writer process. close() returns only once every
    # row it was given is committed, and the store closes after it with nothing running.
    for round_ in range(12):
        db = tmp_path / f"ledger-{round_}.db"
        store = GuardedStore(SQLiteStore(db, writer_process=True))
        await store.start()
        ledger = Ledger(store, flush_interval_s=0.002, batch_size=4)
        await ledger.start()
        added = 0
        for step in range(20 + 7 * round_):
            for record in _records(f"r{round_}-{step}", 3):
                ledger.add(record)
                added += 1
            await asyncio.sleep(0.001 * (step % 3))
        async with asyncio.timeout(HANG_S):
            await ledger.close()
        assert _count(db) == added, f"round {round_}: {_count(db)} of {added} rows committed when close() returned"
        await store.close()
        assert _count(db) == added


def test_a_spool_that_cannot_be_read_back_is_kept_not_deleted(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "spool")
    spool.append([encode_frame("b-1", _records("a", 3)), encode_frame("b-2", _records("b", 3))])
    assert spool.path is not None
    path = spool.path
    with open(path, "r+b") as f:  # one byte of the first frame's payload goes bad
        f.seek(len(b"EDGESPOOL1\n") + 12 + 5)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert spool.pending and spool.unreplayed(16) == []
    spool.set_aside()
    assert not path.exists() and path.with_suffix(".spool-damaged").stat().st_size > 0
    assert not spool.pending and spool.rows == 0
