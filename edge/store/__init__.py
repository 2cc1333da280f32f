"""Durable state: the usage ledger and gateway keys, in SQLite (one host) or PostgreSQL.

Kept light: the SQLite writer process imports this package, and its start-up time is a
worker's wait for it. The guard (edge.store.guard) and config types load only when used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import GROUPINGS, AttemptsRow, KeyRow, RouteStatsRow, SeriesRow, Store, UsageRow, check_grouping

if TYPE_CHECKING:
    from ..config import StateConfig
    from .guard import GuardedStore

__all__ = ["AttemptsRow", "GROUPINGS", "KeyRow", "RouteStatsRow", "SeriesRow", "Store", "UsageRow", "check_grouping", "open_server_store", "open_store", "spool_fallback_folder", "spool_folder"]


def open_store(url: str, base: Path, *, server: bool = False) -> Store:
    """The store for ``state.ledger``: sqlite:///path or postgresql://user@host/db.

    ``server``: the gateway's own store, whose SQLite ledger rows go through a writer process
    and whose PostgreSQL server may be down when it starts.
    """
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(url, base), writer_process=server)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, start_degraded=server)
    raise ValueError(f"unsupported ledger URL scheme in {url.split('://')[0]!r}")


def open_server_store(state: StateConfig, base: Path, on_change: Callable[[str, bool], None] | None = None, on_refused: Callable[[str], None] | None = None) -> GuardedStore:
    """The gateway's store: ``open_store`` behind edge.store.guard (bounded, outage-aware)."""
    from .guard import GuardedStore

    return GuardedStore(open_store(state.ledger, base, server=True), timeout_s=state.store_timeout_s, on_change=on_change, on_refused=on_refused)


def spool_folder(state: StateConfig, base: Path) -> Path:
    """Where the ledger spools rows the store cannot take (``state.spool_dir``, see edge.config)."""
    if state.spool_dir:
        path = Path(state.spool_dir)
        return path if path.is_absolute() else base / path
    if state.ledger.startswith("sqlite://"):
        from .sqlite import sqlite_path

        db = sqlite_path(state.ledger, base)
        return db.with_name(db.name + ".spool")
    return base / "edge-spool"


def spool_fallback_folder(state: StateConfig, base: Path) -> Path | None:
    """Where spooled rows go when the spool folder refuses them (``state.spool_fallback_dir``)."""
    from .spool_chain import fallback_folder

    return fallback_folder(state.spool_fallback_dir, spool_folder(state, base), base)
