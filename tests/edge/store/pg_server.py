"""The PostgreSQL server the store tests use, and a fresh schema per test so runs never collide.

The server is ``EDGE_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test, trust
auth as on the CI machine). When it cannot be reached the tests skip with the reason, except
under CI=true, where they fail: CI has the server, so its absence is a broken run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest

PG_BASE = os.environ.get("EDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but PostgreSQL is not usable at {PG_BASE}: {reason}")
    pytest.skip(f"PostgreSQL not usable at {PG_BASE}: {reason}")


async def _execute(sql: str, *args: Any, url: str = PG_BASE) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    """Rows for ``sql`` over a connection to ``url`` (our ``schema`` parameter understood)."""
    import asyncpg

    from edge.store.postgres import split_schema

    dsn, _, settings = split_schema(url)
    conn = await asyncpg.connect(dsn, timeout=5, server_settings=settings or None)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def new_schema() -> str:
    return f"edge_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"


async def require_postgres() -> None:
    """Skip (or fail under CI) unless the server answers."""
    try:
        await _execute("SELECT 1")
    except Exception as exc:  # refused, timed out, auth: all mean "not usable here"
        _unavailable(f"{type(exc).__name__}: {exc}")


async def drop_schema(name: str) -> None:
    await _execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def schema_url(name: str, extra: str = "") -> str:
    return f"{PG_BASE}{'&' if '?' in PG_BASE else '?'}schema={name}{extra}"


def require_postgres_sync() -> None:
    asyncio.run(require_postgres())
