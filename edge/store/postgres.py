"""The PostgreSQL store: the ledger and gateway keys shared by several hosts (asyncpg pool).

Same tables and columns as the SQLite store (edge.store.schema) and the same answers: ``ts`` is
double precision unix seconds, flags are 0/1 integers, ``day`` groups by the UTC date, groups
sort byte-wise (``COLLATE "C"``, as SQLite does) and a missing key, provider or tag is ``-``.
``tags`` is JSONB so a tag filter is one ``->>``; asyncpg hands JSONB in and out as JSON text,
which is what edge.store.schema writes and reads. The attempt log is TEXT: it is only read.

Rows go in with binary COPY (``copy_records_to_table``): one statement, so a batch lands whole
or not at all. A row Postgres refuses (a NUL character in a model name or tag, which TEXT and
JSONB reject) would otherwise fail its batch forever; on such a data error the batch is
cleaned (NUL dropped, unencodable characters replaced) and sent once more.

The URL is libpq's, plus one parameter of ours: ``?schema=NAME`` puts the tables in schema
NAME (created when missing) instead of ``public``. ``?options=-csearch_path%3DNAME`` and
``?search_path=NAME`` work too and also create the schema. Other query parameters go to the
server as settings (asyncpg's rule). The password is never logged: see edge.config.redact_url.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from edge.fastpath import jsonio

from ..accounting import UsageRecord
from ..config import redact_url
from .base import KeyRow, UsageRow, check_grouping, usage_row
from .batches import KEEP_S, POSTGRES_CLAIM, POSTGRES_PRUNE, POSTGRES_TABLE
from .reports import AttemptsRow, RouteStatsRow, SeriesRow, attempt_rows, attempts_sql, errors_sql, latency_sql, route_stats, series_rows, series_sql
from .schema import ADDED_COLUMNS, KEY_COLUMNS, REQUEST_COLUMNS, key_from_row, key_row, request_rows
from .spend import DAY, day_of, rollup, scope_of

__all__ = ["PostgresStore", "split_schema"]

log = logging.getLogger("edge.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, key_id TEXT, public_model TEXT NOT NULL,
    provider TEXT, upstream_model TEXT, endpoint TEXT NOT NULL, surface TEXT NOT NULL,
    stream INTEGER NOT NULL, attempts INTEGER NOT NULL, status INTEGER NOT NULL, error_type TEXT,
    prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL, estimated INTEGER NOT NULL, cost_usd DOUBLE PRECISION,
    latency_ms DOUBLE PRECISION NOT NULL, ttft_ms DOUBLE PRECISION, client_disconnected INTEGER NOT NULL,
    fallback_reason TEXT, attempt_log TEXT, tags JSONB, dropped_params TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests (key_id, ts);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, models JSONB, rpm INTEGER, tpm INTEGER, budget_usd DOUBLE PRECISION,
    period TEXT NOT NULL, tags JSONB, expires_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS spend_daily (
    scope TEXT NOT NULL, day INTEGER NOT NULL, usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, day)
);
""" + POSTGRES_TABLE

# A ledger written before spend_daily existed: fill it from the rows, once (edge.store.spend).
_BACKFILL = """
INSERT INTO spend_daily (scope, day, usd)
SELECT 'key:' || key_id, floor(ts / 86400)::integer, SUM(cost_usd) FROM requests
WHERE key_id IS NOT NULL AND cost_usd <> 0 GROUP BY 1, 2;
INSERT INTO spend_daily (scope, day, usd)
SELECT 'tag:' || j.key || '=' || (j.value #>> '{}'), floor(r.ts / 86400)::integer, SUM(r.cost_usd)
FROM requests AS r CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(r.tags) = 'object' THEN r.tags END) AS j
WHERE jsonb_typeof(j.value) = 'string' AND r.cost_usd <> 0 GROUP BY 1, 2;
"""
_ADD_SPEND = (
    "INSERT INTO spend_daily (scope, day, usd) SELECT * FROM unnest($1::text[], $2::integer[], $3::double precision[]) "
    "ON CONFLICT (scope, day) DO UPDATE SET usd = spend_daily.usd + EXCLUDED.usd"
)

# Workers of one host (and other hosts) start together: serialize the CREATE ... IF NOT EXISTS,
# which otherwise race on the catalog's unique indexes. Any constant works; this one is ours.
_DDL_LOCK = 0x6C6C6D2D65646765  # "llm-edge"

_GROUP_SQL = {
    "model": "public_model",
    "key": "COALESCE(key_id, '-')",
    "provider": "COALESCE(provider, '-')",
    "day": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}

_SEARCH_PATH_OPTION = re.compile(r"-c\s*search_path\s*=\s*([^\s,]+)")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def split_schema(url: str) -> tuple[str, str | None, dict[str, str]]:
    """The URL for asyncpg without our ``schema`` parameter, the schema named, server settings.

    Raises ValueError for a schema name that is not a plain identifier.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema: str | None = None
    settings: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for name, value in query:
        if name == "schema":
            schema = value
            settings["search_path"] = value
            continue
        if name == "search_path":
            schema = value.split(",")[0].strip()
        elif name == "options":
            found = _SEARCH_PATH_OPTION.search(value)
            if found:
                schema = found.group(1).strip('"')
        kept.append((name, value))
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise ValueError(f"state.ledger: schema {schema!r} is not a plain SQL identifier")
    return urlunsplit(parts._replace(query=urlencode(kept))), schema, settings


def _clean(value: Any) -> Any:
    """A string Postgres will take: no NUL, nothing that does not encode as UTF-8."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _clean_row(row: tuple[object, ...]) -> tuple[object, ...]:
    out = [_clean(v) for v in row]
    tags_at = REQUEST_COLUMNS.index("tags")
    raw = out[tags_at]
    if isinstance(raw, str) and "\\u0000" in raw:  # JSONB refuses an escaped NUL as well
        out[tags_at] = jsonio.dumps({_clean(k): _clean(v) for k, v in jsonio.loads(raw).items()}).decode()
    return tuple(out)


async def _insert(conn: Any, rows: list[tuple[object, ...]], batch_id: str | None) -> None:
    """One transaction: the batch's id (edge.store.batches), the ledger rows (binary COPY) and
    their spend rollup (edge.store.spend). A batch whose id is there already is skipped."""
    spent = rollup(rows)
    async with conn.transaction():
        if batch_id is not None and await conn.execute(POSTGRES_CLAIM, batch_id, time.time()) == "INSERT 0 0":
            return
        await conn.copy_records_to_table("requests", records=rows, columns=REQUEST_COLUMNS)
        if spent:
            await conn.execute(_ADD_SPEND, [s for s, _, _ in spent], [d for _, d, _ in spent], [u for _, _, u in spent])


# SQLSTATE classes that mean "not now" rather than "wrong": connection exception, insufficient
# resources (disk full, too many connections), operator intervention (shutdown, cancel), system error.
_OUTAGE_CLASSES = ("08", "53", "57", "58")


class PostgresStore:
    """A Store (edge.store.base) on PostgreSQL through a small asyncpg pool.

    With ``start_degraded`` (the gateway's own store), a server that cannot be reached at start
    does not stop the gateway: the store starts without a pool, every call tries to connect
    again and raises ConnectionError (an outage, for edge.store.guard) until it can, so the
    gateway serves, spools its ledger rows and answers 503 for what needs the store meanwhile.
    """

    # min_size 0: connections open on demand. With a floor, asyncpg keeps reconnecting in the
    # background while the server is down and logs a traceback for every attempt.
    def __init__(self, url: str, *, min_size: int = 0, max_size: int = 4, connect_timeout_s: float = 10.0, command_timeout_s: float = 30.0, start_degraded: bool = False) -> None:
        self.url = url
        self._start_degraded = start_degraded
        self._dsn, self.schema, self._settings = split_schema(url)
        self._min, self._max = min_size, max_size
        self._connect_timeout = connect_timeout_s
        self._command_timeout = command_timeout_s
        self._pool: Any = None
        self._opening: asyncio.Future[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

    async def start(self) -> None:
        from .guard import describe

        try:
            await self._open()
        except Exception as exc:
            if not self._start_degraded or not self.unavailable(exc):
                raise  # a wrong password, database or schema: a config error, say so at start
            log.warning(
                "ledger: PostgreSQL at %s is not answering (%s); serving without it until it does",
                redact_url(self.url.split("?")[0]), describe(exc),
            )

    async def _open(self) -> None:
        import asyncpg  # only when a postgresql:// ledger is configured

        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
            server_settings=self._settings or None,
        )
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
                if self.schema is not None:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(_SCHEMA)
                for column, sql_type in ADDED_COLUMNS:  # a ledger from an older version
                    await conn.execute(f"ALTER TABLE requests ADD COLUMN IF NOT EXISTS {column} {sql_type}")
                # Under the same lock, so hosts opening the same old ledger fill it once.
                if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM spend_daily)"):
                    await conn.execute(_BACKFILL)
                await conn.execute(POSTGRES_PRUNE, time.time() - KEEP_S)
        except BaseException:
            pool.terminate()
            raise
        if self._closed:
            pool.terminate()
            return
        self._pool = pool
        log.info("ledger: PostgreSQL at %s%s", redact_url(self.url.split("?")[0]), f" (schema {self.schema})" if self.schema else "")

    async def close(self) -> None:
        self._closed = True
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()  # a connect to a server that never answered: give it up
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), 10.0)
        except TimeoutError:
            pool.terminate()

    async def _need_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise RuntimeError("store closed")
        if self._opening is None or self._opening.done():
            # One connect at a time, shielded: a caller that gives up leaves it to finish.
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except Exception as exc:
            raise ConnectionError(f"PostgreSQL not connected: {type(exc).__name__}") from None
        return self._pool

    def unavailable(self, exc: BaseException) -> bool:
        import asyncpg

        if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError)):
            return True
        return isinstance(exc, asyncpg.PostgresError) and str(getattr(exc, "sqlstate", "") or "")[:2] in _OUTAGE_CLASSES

    async def _fetch(self, how: str, sql: str, *args: Any) -> Any:
        """One statement on a pooled connection; waiting for the connection is bounded too."""
        pool = await self._need_pool()
        async with pool.acquire(timeout=self._command_timeout) as conn:
            return await getattr(conn, how)(sql, *args)

    async def sync(self) -> None:
        """Inserts commit before insert_requests returns: nothing to wait for."""

    async def insert_requests(self, records: list[UsageRecord], batch_id: str | None = None) -> None:
        if not records:
            return
        import asyncpg

        rows = await request_rows(records)
        pool = await self._need_pool()
        async with pool.acquire(timeout=self._command_timeout) as conn:
            try:
                await _insert(conn, rows, batch_id)
            except (asyncpg.DataError, UnicodeEncodeError) as exc:
                log.warning("ledger: PostgreSQL refused a batch (%s); sending it again with text cleaned", type(exc).__name__)
                await _insert(conn, [_clean_row(r) for r in rows], batch_id)

    async def list_keys(self) -> list[KeyRow]:
        rows = await self._fetch("fetch", f"SELECT {','.join(KEY_COLUMNS)} FROM keys ORDER BY created_at")
        return [key_from_row(tuple(row)) for row in rows]

    async def find_key(self, digest: str) -> KeyRow | None:
        row = await self._fetch("fetchrow", f"SELECT {','.join(KEY_COLUMNS)} FROM keys WHERE hash = $1", digest)
        return key_from_row(tuple(row)) if row is not None else None

    async def create_key(self, key: KeyRow) -> None:
        placeholders = ",".join(f"${i}" for i in range(1, len(KEY_COLUMNS) + 1))
        await self._fetch("execute", f"INSERT INTO keys ({','.join(KEY_COLUMNS)}) VALUES ({placeholders})", *key_row(key))

    async def revoke_key(self, key_id: str, when: float) -> bool:
        found = await self._fetch(
            "fetch", "UPDATE keys SET revoked_at = $1 WHERE (id = $2 OR name = $2) AND revoked_at IS NULL RETURNING id", when, key_id
        )
        return bool(found)

    async def spend(self, since: float, *, key_id: str | None = None, tag: tuple[str, str] | None = None) -> float:
        scope = scope_of(key_id, tag)
        if scope is not None and since % DAY == 0:  # a budget period: whole UTC days, the rollup
            value = await self._fetch("fetchval", "SELECT COALESCE(SUM(usd), 0) FROM spend_daily WHERE scope = $1 AND day >= $2", scope, day_of(since))
        elif key_id is not None:
            value = await self._fetch("fetchval", "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= $1 AND key_id = $2", since, key_id)
        elif tag is not None:
            value = await self._fetch("fetchval", "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= $1 AND tags->>$2 = $3", since, tag[0], tag[1])
        else:
            value = await self._fetch("fetchval", "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= $1", since)
        return float(value)

    async def usage(self, since: float, group_by: str) -> list[UsageRow]:
        check_grouping(group_by)
        params: list[Any] = [since]
        if group_by.startswith("tag:"):
            expr = "COALESCE(tags->>$2, '-')"
            params.append(group_by[4:])
        else:
            expr = _GROUP_SQL[group_by]
        rows = await self._fetch(
            "fetch",
            f'SELECT ({expr}) COLLATE "C" AS g, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), '
            "SUM(reasoning_tokens), COALESCE(SUM(cost_usd), 0), COUNT(*) FILTER (WHERE status >= 400), "
            "SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_hit), COALESCE(SUM(saved_usd), 0) "
            "FROM requests WHERE ts >= $1 GROUP BY g ORDER BY g",
            *params,
        )
        return [usage_row(row) for row in rows]

    async def usage_series(self, since: float, bucket_s: float, group_by: str) -> list[SeriesRow]:
        check_grouping(group_by)
        params: list[Any] = [float(bucket_s), since]
        if group_by.startswith("tag:"):
            expr = "COALESCE(tags->>$3, '-')"
            params.append(group_by[4:])
        else:
            expr = _GROUP_SQL[group_by]
        sql = series_sql("floor(ts / $1)::bigint", expr, "$2")
        return series_rows([tuple(r) for r in await self._fetch("fetch", sql, *params)])

    async def route_stats(self, since: float) -> list[RouteStatsRow]:
        latency = [tuple(r) for r in await self._fetch("fetch", latency_sql("$1"), since)]
        errors = [tuple(r) for r in await self._fetch("fetch", errors_sql("$1"), since)]
        return route_stats(latency, errors)

    async def recent_attempts(self, since: float, limit: int) -> list[AttemptsRow]:
        return attempt_rows([tuple(r) for r in await self._fetch("fetch", attempts_sql("$1", "$2"), since, limit)])
