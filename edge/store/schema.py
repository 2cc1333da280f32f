"""Table layout shared by the SQLite and PostgreSQL stores, and records as rows.

``requests`` is the ledger (one row per request); ``keys`` holds gateway keys by digest. Tags
and the attempt log are JSON text, so both engines can read them (json_extract / ->>); the dropped
request fields are comma-separated text.
"""

from __future__ import annotations

import asyncio

from edge.fastpath import jsonio

from ..accounting import UsageRecord
from .base import KeyRow

__all__ = ["ADDED_COLUMNS", "KEY_COLUMNS", "REQUEST_COLUMNS", "key_from_row", "key_row", "request_row", "request_rows"]

# Rows converted per turn of the event loop at a flush: 512 in one go held it about 1 ms, and
# the request in flight waited that long (c=1 p99, bench/README.md); 64 is about 0.1 ms.
_ROWS_PER_TURN = 64

REQUEST_COLUMNS = (
    "request_id", "ts", "key_id", "public_model", "provider", "upstream_model", "endpoint", "surface", "stream",
    "attempts", "status", "error_type", "prompt_tokens", "completion_tokens", "cached_tokens",
    "reasoning_tokens", "estimated", "cost_usd", "latency_ms", "ttft_ms", "client_disconnected",
    "fallback_reason", "attempt_log", "tags", "dropped_params",
    "cache_write_5m_tokens", "cache_write_1h_tokens", "saved_usd", "cache_hit",
)

# Columns added after the first release, with their SQL type: each store adds the ones an older
# ledger lacks when it opens it (``dropped_params``: the request fields the route did not get,
# comma separated).
ADDED_COLUMNS = (
    ("dropped_params", "TEXT"),
    # Prompt-cache writes by TTL, what caching saved (USD), a response-cache hit (0/1).
    ("cache_write_5m_tokens", "BIGINT NOT NULL DEFAULT 0"),
    ("cache_write_1h_tokens", "BIGINT NOT NULL DEFAULT 0"),
    ("saved_usd", "DOUBLE PRECISION"),
    ("cache_hit", "INTEGER NOT NULL DEFAULT 0"),
)

KEY_COLUMNS = ("id", "name", "hash", "prefix", "created_at", "models", "rpm", "tpm", "budget_usd", "period", "tags", "expires_at", "revoked_at")


def request_row(r: UsageRecord) -> tuple[object, ...]:
    return (
        r.request_id, r.ts, r.key_id, r.public_model, r.provider, r.upstream_model, r.endpoint, r.surface, int(r.stream),
        r.attempts, r.status, r.error_type, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
        r.reasoning_tokens, int(r.estimated), r.cost_usd, r.latency_ms, r.ttft_ms, int(r.client_disconnected),
        r.fallback_reason, jsonio.encode_struct(r.attempt_log).decode() if r.attempt_log else None,
        jsonio.dumps(r.tags).decode() if r.tags else None,
        ",".join(r.dropped_params) if r.dropped_params else None,
        r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.saved_usd, int(r.cache_hit),
    )


async def request_rows(records: list[UsageRecord]) -> list[tuple[object, ...]]:
    """``request_row`` for a whole batch, a slice per turn of the loop, so requests in flight
    are answered between slices."""
    rows = [request_row(r) for r in records[:_ROWS_PER_TURN]]
    for start in range(_ROWS_PER_TURN, len(records), _ROWS_PER_TURN):
        await asyncio.sleep(0)
        rows += [request_row(r) for r in records[start : start + _ROWS_PER_TURN]]
    return rows


def key_row(k: KeyRow) -> tuple[object, ...]:
    return (
        k.id, k.name, k.hash, k.prefix, k.created_at,
        jsonio.dumps(k.models).decode() if k.models is not None else None,
        k.rpm, k.tpm, k.budget_usd, k.period,
        jsonio.dumps(k.tags).decode() if k.tags else None,
        k.expires_at, k.revoked_at,
    )


def key_from_row(row: tuple[object, ...]) -> KeyRow:
    values = dict(zip(KEY_COLUMNS, row))
    for field in ("models", "tags"):
        raw = values[field]
        values[field] = jsonio.loads(raw) if isinstance(raw, (str, bytes)) and raw else None
    return jsonio.convert(values, KeyRow, strict=False)
