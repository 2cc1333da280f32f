"""Spend per key and per tag per UTC day: the rollup that budget checks read.

Budgets re-read what each key and tag has spent since the start of its day or month, every
second in every worker (edge/limits/budgets.py). Summing the ledger for that grows with the
period's rows (about a second per read at a million rows), so each store also keeps
``spend_daily``: one row per (scope, UTC day) with the USD of the rows written that day, updated
in the same transaction as the ledger rows. A period's spend is then a sum over at most 31 rows.
Scopes are ``key:<key id>`` and ``tag:<name>=<value>``. A ledger from before this table gets it
filled from its rows once, when a store first opens it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from edge.fastpath import jsonio

from .schema import REQUEST_COLUMNS

__all__ = ["DAY", "day_of", "rollup", "scope_of"]

DAY = 86400.0
_TS = REQUEST_COLUMNS.index("ts")
_KEY = REQUEST_COLUMNS.index("key_id")
_COST = REQUEST_COLUMNS.index("cost_usd")
_TAGS = REQUEST_COLUMNS.index("tags")


def day_of(ts: float) -> int:
    """The UTC day number (days since 1970-01-01) of unix time ``ts``."""
    return int(ts // DAY)


def scope_of(key_id: str | None = None, tag: tuple[str, str] | None = None) -> str | None:
    if key_id is not None:
        return "key:" + key_id
    if tag is not None:
        return f"tag:{tag[0]}={tag[1]}"
    return None


def rollup(rows: Iterable[Sequence[Any]]) -> list[tuple[str, int, float]]:
    """Ledger rows (edge.store.schema.request_row order) -> (scope, day, usd), summed per
    (scope, day) and sorted, so concurrent writers take their row locks in one order."""
    totals: dict[tuple[str, int], float] = {}
    for row in rows:
        cost = row[_COST]
        if not cost:
            continue
        day = day_of(row[_TS])
        scopes = []
        if row[_KEY] is not None:
            scopes.append("key:" + row[_KEY])
        raw = row[_TAGS]
        if raw:
            tags = jsonio.loads(raw)
            if isinstance(tags, dict):
                scopes.extend(f"tag:{name}={value}" for name, value in tags.items() if isinstance(value, str))
        for scope in scopes:
            totals[(scope, day)] = totals.get((scope, day), 0.0) + cost
    return [(scope, day, usd) for (scope, day), usd in sorted(totals.items())]
