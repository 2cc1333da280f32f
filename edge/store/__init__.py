"""Durable state: the usage ledger and gateway keys, in SQLite (one host) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from .base import GROUPINGS, AttemptsRow, KeyRow, RouteStatsRow, SeriesRow, Store, UsageRow, check_grouping

__all__ = ["AttemptsRow", "GROUPINGS", "KeyRow", "RouteStatsRow", "SeriesRow", "Store", "UsageRow", "check_grouping", "open_store"]


def open_store(url: str, base: Path, *, server: bool = False) -> Store:
    """The store for ``state.ledger``: sqlite:///path or postgresql://user@host/db.

    ``server``: the gateway's own store, whose SQLite ledger rows go through a writer process.
    """
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(url, base), writer_process=server)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported ledger URL scheme in {url.split('://')[0]!r}")
