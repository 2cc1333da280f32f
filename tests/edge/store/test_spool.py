"""The ledger's spool with real files and processes: kill -9, torn tails, replays repeated.

A child process appends batches to a spool and is killed with SIGKILL mid-stream; a ledger in
this process adopts the orphan and replays it into a real SQLite store: every batch the child
had fsync'd lands exactly once, a torn last frame is dropped, the file is removed. Replaying the
same spool twice (a crash between the commit and the file's removal) writes nothing twice,
thanks to the batch ids. A file that is not a spool is set aside, not deleted or read.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from edge.accounting import UsageRecord
from edge.ledger import Ledger
from edge.store.spool import MAGIC, SpoolFile, encode_frame, find_orphans
from edge.store.sqlite import SQLiteStore

CHILD = """
import sys
from pathlib import Path
from edge.accounting import UsageRecord
from edge.store.spool import SpoolFile, encode_frame
spool = SpoolFile(Path(sys.argv[1]))
i = 0
while True:
    records = [UsageRecord(request_id=f"r{i}-{j}", ts=1700000000.0 + i, public_model="chat", status=200, cost_usd=0.5) for j in range(3)]
    spool.append([encode_frame(f"batch-{i}", records)])
    print(i, flush=True)  # after the fsync: this batch is on disk
    i += 1
"""


def _rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT request_id, count(*) FROM requests GROUP BY request_id").fetchall())


async def _replay(spool_dir: Path, db: Path, want: int) -> None:
    """A ledger adopts and replays whatever orphans ``spool_dir`` holds, until ``want`` rows."""
    store = SQLiteStore(db)
    await store.start()
    ledger = Ledger(store, flush_interval_s=0.05, spool_dir=spool_dir)
    await ledger.start()
    try:
        deadline = time.monotonic() + 30
        while len(_rows(db)) < want or list(spool_dir.glob("*.spool")):
            assert time.monotonic() < deadline, f"replayed {len(_rows(db))} of {want} rows; left: {list(spool_dir.iterdir())}"
            await asyncio.sleep(0.05)
    finally:
        await ledger.close()
        await store.close()


def test_a_killed_writers_spool_is_replayed_exactly_once(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool_dir)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    reported = -1
    while reported < 40:
        reported = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    (orphan,) = spool_dir.glob("*.spool")
    # A crash in the middle of an append leaves part of a frame: emulate one after the last.
    torn = encode_frame("torn", [UsageRecord(request_id="torn-0", ts=1.0, public_model="chat", status=200)]).data
    with open(orphan, "ab") as f:
        f.write(torn[: len(torn) // 2])
    # A copy of the spool, as if a replayer had crashed after committing but before deleting.
    twin = orphan.with_name(orphan.name.replace("ledger-", "ledger-0"))
    shutil.copyfile(orphan, twin)
    found = find_orphans(spool_dir)
    frames = len(found[0].unreplayed(100_000))  # whole frames on disk
    for orphan_spool in found:
        orphan_spool.release()
    assert frames >= reported + 1

    db = tmp_path / "edge.db"
    asyncio.run(_replay(spool_dir, db, 3 * frames))
    rows = _rows(db)
    assert {f"r{i}-{j}" for i in range(reported + 1) for j in range(3)} <= set(rows), "a batch fsync'd before the kill is missing"
    assert len(rows) == 3 * frames and set(rows.values()) == {1}, "every whole frame once, nothing twice"
    assert "torn-0" not in rows
    assert not list(spool_dir.glob("*.spool"))
    with sqlite3.connect(db) as conn:  # the spend rollup counted each batch once too
        assert conn.execute("SELECT usd FROM spend_daily").fetchall() == []  # no key, no tags: no scope
        assert conn.execute("SELECT count(*) FROM ledger_batches").fetchone()[0] == frames


def test_a_file_that_is_not_a_spool_is_set_aside(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    stranger = spool_dir / "ledger-1-2-abc.spool"
    stranger.write_bytes(b"not a spool at all")
    own = SpoolFile(spool_dir)
    own.append([encode_frame("b1", [UsageRecord(request_id="x", ts=1.0, public_model="chat", status=200)])])
    assert own.path is not None and own.path.read_bytes().startswith(MAGIC)
    orphans = find_orphans(spool_dir, {own.path})  # our own file is locked by us: never an orphan
    assert [o.path for o in orphans] == [stranger] and orphans[0].foreign and orphans[0].unreplayed(10) == []
    orphans[0].discard()
    assert not stranger.exists() and stranger.with_suffix(".spool-foreign").read_bytes() == b"not a spool at all"
    own.close()  # rows left in it: the file stays for the next worker
    assert len(list(spool_dir.glob("*.spool"))) == 1


async def test_the_same_batch_sent_twice_is_written_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "edge.db", writer_process=True)
    await store.start()
    try:
        records = [UsageRecord(request_id=f"d{i}", ts=1700000000.0, public_model="chat", status=200, key_id="k1", cost_usd=0.25) for i in range(5)]
        await store.insert_requests(records, "batch-a")
        await store.insert_requests(records, "batch-a")  # a retry after an answer that was lost
        await store.insert_requests(records[:2], "batch-b")
        await store.sync()
        assert await store.spend(0.0, key_id="k1") == 7 * 0.25
    finally:
        await store.close()
    assert _rows(tmp_path / "edge.db") == {"d0": 2, "d1": 2, "d2": 1, "d3": 1, "d4": 1}
