"""The storage contract: the usage ledger, gateway keys and the reports read from them.

Two backends implement it: SQLite (the embedded default, one host; edge.store.sqlite) and
PostgreSQL (several hosts; edge.store.postgres). Both keep the same tables and columns
(edge.store.schema), so a report or a key means the same on either.
"""

from __future__ import annotations

from typing import Any, Protocol

from msgspec import Struct

from ..accounting import UsageRecord
from .reports import AttemptsRow, RouteStatsRow, SeriesRow

__all__ = ["AttemptsRow", "GROUPINGS", "KeyRow", "RouteStatsRow", "SeriesRow", "Store", "UsageRow", "check_grouping", "usage_row"]

GROUPINGS = ("model", "key", "provider", "day", "tag:<name>")


class KeyRow(Struct, kw_only=True):
    """A gateway key as stored: only its SHA-256 digest, never the key itself."""

    id: str
    name: str
    hash: str  # hex SHA-256 of the key
    prefix: str  # the first characters, to recognize a key in listings
    created_at: float
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    period: str = "month"
    tags: dict[str, str] | None = None
    expires_at: float | None = None
    revoked_at: float | None = None


class UsageRow(Struct):
    group: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float
    errors: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_hits: int = 0
    saved_usd: float = 0.0


def usage_row(row: Any) -> UsageRow:
    """One row of either store's usage query: group, requests, prompt, completion, cached and
    reasoning tokens, cost, errors, cache writes (5 minutes, 1 hour), response-cache hits, saved."""
    g, n, p, c, ca, r, cost, e, w5, w1, hits, saved = row
    return UsageRow(str(g), int(n), int(p or 0), int(c or 0), int(ca or 0), int(r or 0), float(cost), int(e or 0), int(w5 or 0), int(w1 or 0), int(hits or 0), float(saved or 0))


def check_grouping(group_by: str) -> str:
    """'model', 'key', 'provider', 'day' or 'tag:<name>'; raises ValueError otherwise."""
    if group_by in ("model", "key", "provider", "day"):
        return group_by
    name = group_by.removeprefix("tag:")
    if group_by.startswith("tag:") and name and all(c.isalnum() or c in "_-." for c in name):
        return group_by
    raise ValueError(f"cannot group by {group_by!r}: use one of {', '.join(GROUPINGS)}")


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def insert_requests(self, records: list[UsageRecord], batch_id: str | None = None) -> None:
        """One transaction. A ``batch_id`` already written makes it a no-op (edge.store.batches)."""
        ...

    async def sync(self) -> None:
        """Return once every row inserted so far is readable (a no-op where inserts are synchronous)."""
        ...

    async def list_keys(self) -> list[KeyRow]: ...

    async def find_key(self, digest: str) -> KeyRow | None:
        """The key whose hex SHA-256 digest this is, revoked or not; None when there is none."""
        ...

    async def create_key(self, key: KeyRow) -> None: ...

    async def revoke_key(self, key_id: str, when: float) -> bool: ...

    async def spend(self, since: float, *, key_id: str | None = None, tag: tuple[str, str] | None = None) -> float:
        """USD recorded since ``since`` (unix time) for one key or one tag (name, value)."""
        ...

    async def usage(self, since: float, group_by: str) -> list[UsageRow]: ...

    async def usage_series(self, since: float, bucket_s: float, group_by: str) -> list[SeriesRow]:
        """Figures per (time bucket, group) since ``since``; buckets are floor(ts / bucket_s)."""
        ...

    async def route_stats(self, since: float) -> list[RouteStatsRow]:
        """Requests, errors by type and latency p50/p99 per public model and route (edge.store.reports)."""
        ...

    async def recent_attempts(self, since: float, limit: int) -> list[AttemptsRow]:
        """The newest ``limit`` rows since ``since`` that may hold a failed attempt."""
        ...

    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` from a call means the store cannot answer now (down, frozen, disk
        full), as opposed to a mistake in the call; edge.store.guard answers 503 for those."""
        ...
