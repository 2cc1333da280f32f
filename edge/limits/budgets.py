"""Budgets: USD per key and per tag per period (day or month, UTC).

The ledger is the source of truth. Each worker reads what every scope it has seen has spent this
period from the store every ``refresh_s`` and adds its own spend at once in between, so a budget
holds across workers and instances (through the shared PostgreSQL ledger) within about a second
of spend. A spent budget answers 429 ``insufficient_quota`` with no upstream call.

When the store does not answer (edge.store.guard), a scope whose spend this worker already
holds keeps being checked against it, with this worker's own spend added; a scope seen for the
first time this period cannot be checked and answers 503 with Retry-After within
``state.store_timeout_s``. The refresh logs one warning when it starts failing and one when it
succeeds again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import NoReturn

from ..config import BudgetConfig
from ..errors import InsufficientQuota
from ..store import Store
from ..store.guard import StoreUnavailable
from ..tasks import stop_task

__all__ = ["Budgets", "period_start"]

log = logging.getLogger("edge.budgets")

_ADJECTIVE = {"day": "daily", "month": "monthly"}  # a period in a sentence

Scope = tuple[str, str, str]  # ("key", key id, period) or ("tag", "name=value", period)


def _refuse_spent(scope: Scope, usd: float, spent: float, key_id: str | None, key_name: str | None) -> NoReturn:
    what = f"key '{key_name or key_id}'" if scope[0] == "key" else f"tag {scope[1]}"
    raise InsufficientQuota(f"The {_ADJECTIVE[scope[2]]} budget of {usd:g} USD for {what} is spent ({spent:.4f} USD).")


def period_start(period: str, now: float) -> float:
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        day = day.replace(day=1)
    return day.timestamp()


class _PeriodStarts:
    """period_start, computed once per UTC day instead of once per request."""

    def __init__(self) -> None:
        self._day = -1
        self._starts: dict[str, float] = {}

    def __call__(self, period: str, now: float) -> float:
        day = int(now // 86400)
        if day != self._day:
            self._day, self._starts = day, {}
        start = self._starts.get(period)
        if start is None:
            start = self._starts[period] = period_start(period, now)
        return start


class Budgets:
    def __init__(self, rules: Iterable[BudgetConfig], store: Store, refresh_s: float = 1.0) -> None:
        self._tag_rules: dict[str, list[BudgetConfig]] = {}
        self._key_rules: dict[str, list[BudgetConfig]] = {}
        for rule in rules:
            if rule.tag:
                self._tag_rules.setdefault(rule.tag, []).append(rule)
            if rule.key:
                self._key_rules.setdefault(rule.key, []).append(rule)
        self._store = store
        self._refresh_s = refresh_s
        self._spent: dict[tuple[Scope, float], float] = {}  # (scope, period start) -> USD
        self._period_start = _PeriodStarts()
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return bool(self._tag_rules or self._key_rules)

    def _scopes(self, key_id: str | None, key_budget: float | None, key_period: str, tags: dict[str, str] | None, key_name: str | None) -> list[tuple[Scope, float]]:
        scopes: list[tuple[Scope, float]] = []
        if key_id is not None and key_budget is not None:
            scopes.append((("key", key_id, key_period), key_budget))
        if not (self._key_rules or self._tag_rules):  # no configured budgets: the key's own, if any
            return scopes
        for rule in [*self._key_rules.get(key_name or "", ()), *self._key_rules.get(key_id or "", ())]:
            scopes.append((("key", key_id or "", rule.period), rule.usd))
        if tags:
            for name, value in tags.items():
                for rule in self._tag_rules.get(f"{name}={value}", ()):
                    scopes.append((("tag", f"{name}={value}", rule.period), rule.usd))
        return scopes

    async def check(self, now: float, key_id: str | None, key_budget: float | None, key_period: str, tags: dict[str, str] | None, key_name: str | None = None) -> None:
        for scope, usd in self._scopes(key_id, key_budget, key_period, tags, key_name):
            start = self._period_start(scope[2], now)
            spent = self._spent.get((scope, start))
            if spent is None:  # first time this period: read what was spent before we started
                spent = self._spent[(scope, start)] = await self._first_read(scope, start, key_name)
            if spent >= usd:
                _refuse_spent(scope, usd, spent, key_id, key_name)

    def check_now(self, now: float, key_id: str | None, key_budget: float | None, key_period: str, tags: dict[str, str] | None, key_name: str | None = None) -> bool:
        """``check`` without an await: False, having raised nothing, when a scope's spend must
        be read from the store first (``check`` does that); True when every scope has room."""
        for scope, usd in self._scopes(key_id, key_budget, key_period, tags, key_name):
            spent = self._spent.get((scope, self._period_start(scope[2], now)))
            if spent is None:
                return False
            if spent >= usd:
                _refuse_spent(scope, usd, spent, key_id, key_name)
        return True

    def add(self, now: float, cost: float, key_id: str | None, key_budget: float | None, key_period: str, tags: dict[str, str] | None, key_name: str | None = None) -> None:
        if not cost:
            return
        for scope, _ in self._scopes(key_id, key_budget, key_period, tags, key_name):
            start = self._period_start(scope[2], now)
            self._spent[(scope, start)] = self._spent.get((scope, start), 0.0) + cost

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_loop(), name="edge-budgets")

    async def close(self) -> None:
        await stop_task(self._task)

    async def _first_read(self, scope: Scope, start: float, key_name: str | None) -> float:
        try:
            return await self._read(scope, start)
        except StoreUnavailable as exc:
            what = f"key '{key_name or scope[1]}'" if scope[0] == "key" else f"tag {scope[1]}"
            raise StoreUnavailable(
                f"The {_ADJECTIVE[scope[2]]} budget for {what} cannot be checked: the gateway's usage store is not answering; retry in {exc.retry_after or 1:.0f} s.",
                retry_after=exc.retry_after,
            ) from None

    async def _read(self, scope: Scope, start: float) -> float:
        kind, ident, _ = scope
        if kind == "key":
            return await self._store.spend(start, key_id=ident)
        name, _, value = ident.partition("=")
        return await self._store.spend(start, tag=(name, value))

    async def refresh(self) -> None:
        now = time.time()
        for scope, start in list(self._spent):
            if start < self._period_start(scope[2], now):  # a past period: nothing checks it again
                del self._spent[(scope, start)]
                continue
            ledger = await self._read(scope, start)
            # Spend only grows inside a period: the ledger brings other workers' spend, our own
            # view may hold spend the ledger has not written yet; the larger is the closer.
            self._spent[(scope, start)] = max(ledger, self._spent.get((scope, start), 0.0))

    async def _refresh_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # keep checking against what this worker knows; say so once
                if not failing:
                    log.warning("budgets: cannot read spend from the store (%s); checking against this worker's figures until it answers", type(exc).__name__)
                failing = True
            else:
                if failing:
                    log.warning("budgets: reading spend from the store again")
                failing = False
