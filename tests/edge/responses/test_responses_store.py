"""The response store on both backends (edge/responses/store.py): a conversation read back in one
query, oldest first; only the key that made a response reads or deletes it; an expired row is
gone; many puts at once each return once their row is committed (group commit)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from edge.responses.pending import PendingResponses
from edge.responses.store import PostgresResponses, ResponseStore, SQLiteResponses, StoredResponse
from tests.edge.store.pg_server import drop_schema, new_schema, require_postgres, schema_url


def _row(rid: str, previous: str | None, key: str | None = "k1", ttl: float = 3600.0) -> StoredResponse:
    now = time.time()
    return StoredResponse(rid, key, now, now + ttl, previous, "up/echo", '{"id": "%s", "output": []}' % rid, '[{"type": "message"}]')


async def _exercise(store: ResponseStore) -> None:
    await store.put(_row("resp_a", None))
    await store.put(_row("resp_b", "resp_a"))
    await store.put(_row("resp_c", "resp_b"))
    assert [r.id for r in await store.chain("resp_c", "k1")] == ["resp_a", "resp_b", "resp_c"]
    assert [r.id for r in await store.chain("resp_b", "k1")] == ["resp_a", "resp_b"]
    assert await store.chain("resp_c", "k2") == [] and await store.chain("resp_c", None) == []
    assert not await store.delete("resp_b", "k2")
    assert await store.delete("resp_b", "k1") and not await store.delete("resp_b", "k1")
    assert [r.id for r in await store.chain("resp_c", "k1")] == ["resp_c"]  # the history stops at a deleted turn
    await store.put(_row("resp_old", None, ttl=-1.0))
    assert await store.chain("resp_old", "k1") == []  # past its retention
    await store.put(_row("resp_anon", None, key=None))
    assert [r.id for r in await store.chain("resp_anon", None)] == ["resp_anon"]
    await asyncio.gather(*(store.put(_row(f"resp_many{i}", None)) for i in range(50)))
    found = await asyncio.gather(*(store.chain(f"resp_many{i}", "k1") for i in range(50)))
    assert all(len(rows) == 1 for rows in found)


async def test_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteResponses(tmp_path / "edge.db")
    await store.start()
    try:
        await _exercise(store)
    finally:
        await store.close()


async def test_postgres_store() -> None:
    await require_postgres()
    schema = new_schema()
    store = PostgresResponses(schema_url(schema))
    try:
        await store.start()
        await _exercise(store)
    finally:
        await store.close()
        await drop_schema(schema)


async def test_a_retention_of_nothing_keeps_nothing(tmp_path: Path) -> None:
    store = SQLiteResponses(tmp_path / "edge.db")
    await store.start()
    try:
        await store.put(_row("resp_x", None, ttl=0.0))
        assert await store.chain("resp_x", "k1") == []
    finally:
        await store.close()


async def test_pending_rows_are_read_at_once_here_and_after_their_flush_elsewhere(tmp_path: Path) -> None:
    """The gateway's writes (edge/responses/pending.py): a kept row is read at once by the worker
    that kept it, by another worker on the same database once its flush commits (the reader asks
    again meanwhile), and a history mixes pending and written turns; deletes reach either."""
    here = PendingResponses(SQLiteResponses(tmp_path / "edge.db"), flush_s=0.05, settle_s=2.0)
    there = PendingResponses(SQLiteResponses(tmp_path / "edge.db"), flush_s=0.05, settle_s=2.0)
    await here.start()
    await there.start()
    try:
        here.keep(_row("resp_1", None))
        assert [r.id for r in await here.chain("resp_1", "k1")] == ["resp_1"]  # not written yet
        assert await here.store.chain("resp_1", "k1") == []
        assert [r.id for r in await there.chain("resp_1", "k1")] == ["resp_1"]  # waited for the flush
        here.keep(_row("resp_2", "resp_1"))
        assert [r.id for r in await here.chain("resp_2", "k1")] == ["resp_1", "resp_2"]
        assert await here.chain("resp_2", "k2") == []  # another key: not even from memory
        here.keep(_row("resp_3", None))
        assert await here.delete("resp_3", "k1")  # pending: never written
        assert await there.delete("resp_2", "k1")  # on its way: found once written
        await asyncio.sleep(0.2)
        assert await here.store.chain("resp_2", "k1") == [] and await here.store.chain("resp_3", "k1") == []
        here.keep(_row("resp_4", None))
    finally:
        await here.close()  # writes what still waits
        await there.close()
    store = SQLiteResponses(tmp_path / "edge.db")
    await store.start()
    try:
        assert [r.id for r in await store.chain("resp_4", "k1")] == ["resp_4"]
    finally:
        await store.close()
