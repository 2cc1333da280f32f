"""edge.limits.budgets: USD per key and per tag per UTC day or month, the ledger the source of truth.

A real SQLite store stands in for the ledger that every worker shares; "another worker" is a row
written to it directly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.accounting import UsageRecord
from edge.config import BudgetConfig
from edge.errors import InsufficientQuota
from edge.limits.budgets import Budgets, period_start
from edge.store import Store, open_store
from tests.support import async_wait_for

DAY = 86_400.0


@pytest.fixture()
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store("sqlite:///ledger.db", tmp_path)
    await s.start()
    yield s
    await s.close()


async def _spent_elsewhere(store: Store, usd: float, ts: float, key_id: str | None = None, tags: dict[str, str] | None = None) -> None:
    """A row another worker (or instance) wrote to the shared ledger."""
    await store.insert_requests([UsageRecord(request_id=f"other-{ts}-{usd}", ts=ts, public_model="m", status=200, key_id=key_id, cost_usd=usd, tags=tags)])


def test_period_start_is_utc_midnight_or_the_first_of_the_month() -> None:
    now = dt.datetime(2026, 3, 15, 13, 45, 7, tzinfo=dt.UTC).timestamp()
    assert period_start("day", now) == dt.datetime(2026, 3, 15, tzinfo=dt.UTC).timestamp()
    assert period_start("month", now) == dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    midnight = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    assert period_start("day", midnight) == midnight and period_start("day", midnight - 0.001) == midnight - DAY


async def test_a_key_budget_holds_at_exactly_its_amount(store: Store) -> None:
    budgets = Budgets([], store)
    now = time.time()
    await budgets.check(now, "k1", 1.0, "day", None, "team")
    budgets.add(now, 0.6, "k1", 1.0, "day", None, "team")
    await budgets.check(now, "k1", 1.0, "day", None, "team")
    budgets.add(now, 0.4, "k1", 1.0, "day", None, "team")
    with pytest.raises(InsufficientQuota) as info:
        await budgets.check(now, "k1", 1.0, "day", None, "team")
    assert "budget of 1 USD for key 'team' is spent (1.0000 USD)" in info.value.message
    assert info.value.status == 429 and info.value.headers()["x-should-retry"] == "false"
    await budgets.check(now, "k2", 1.0, "day", None, "other")  # another key's spend is its own
    await budgets.check(now, "k1", None, "day", None, "team")  # a key without a budget is not checked


async def test_the_refusal_says_daily(store: Store) -> None:
    budgets = Budgets([], store)
    now = time.time()
    budgets.add(now, 1.0, "k1", 1.0, "day", None, "team")
    with pytest.raises(InsufficientQuota, match="The daily budget"):
        await budgets.check(now, "k1", 1.0, "day", None, "team")


async def test_a_tag_rule_from_the_config(store: Store) -> None:
    budgets = Budgets([BudgetConfig(tag="customer=acme", usd=0.5, period="month")], store)
    assert budgets.active and not Budgets([], store).active
    now = time.time()
    acme = {"customer": "acme", "feature": "search"}
    budgets.add(now, 0.5, "k1", None, "month", acme, "someone")
    with pytest.raises(InsufficientQuota, match="budget of 0.5 USD for tag customer=acme"):
        await budgets.check(now, "k9", None, "month", {"customer": "acme"}, "anyone")  # the tag's, whoever spends
    await budgets.check(now, "k1", None, "month", {"customer": "globex"}, "someone")
    await budgets.check(now, "k1", None, "month", None, "someone")


async def test_a_key_name_rule_from_the_config(store: Store) -> None:
    budgets = Budgets([BudgetConfig(key="team-a", usd=2.0, period="day")], store)
    now = time.time()
    await budgets.check(now, "ka", None, "month", None, "team-a")
    budgets.add(now, 2.0, "ka", None, "month", None, "team-a")
    with pytest.raises(InsufficientQuota, match="budget of 2 USD for key 'team-a'"):
        await budgets.check(now, "ka", None, "month", None, "team-a")


async def test_the_first_check_of_a_period_reads_what_the_ledger_already_holds(store: Store) -> None:
    now = time.time()
    await _spent_elsewhere(store, 1.5, now - 1, key_id="k1", tags={"customer": "acme"})
    budgets = Budgets([BudgetConfig(tag="customer=acme", usd=1.0, period="day")], store)
    with pytest.raises(InsufficientQuota):
        await budgets.check(now, "k1", 1.0, "day", None, "team")
    with pytest.raises(InsufficientQuota):
        await budgets.check(now, "k2", None, "day", {"customer": "acme"}, "other")


async def test_a_refresh_brings_other_workers_spend(store: Store) -> None:
    budgets = Budgets([], store)
    now = time.time()
    await budgets.check(now, "k1", 1.0, "day", None, "team")  # seen at 0 spent
    await _spent_elsewhere(store, 1.2, now, key_id="k1")
    await budgets.check(now, "k1", 1.0, "day", None, "team")  # between refreshes: the worker's own view
    await budgets.refresh()
    with pytest.raises(InsufficientQuota):
        await budgets.check(now, "k1", 1.0, "day", None, "team")


async def test_a_refresh_keeps_own_spend_the_ledger_has_not_written_yet(store: Store) -> None:
    budgets = Budgets([], store)
    now = time.time()
    await budgets.check(now, "k1", 1.0, "day", None, "team")
    budgets.add(now, 1.0, "k1", 1.0, "day", None, "team")  # not in the ledger yet
    await _spent_elsewhere(store, 0.2, now, key_id="k1")
    await budgets.refresh()
    with pytest.raises(InsufficientQuota, match=r"\(1\.0000 USD\)"):  # the larger of the two, not 0.2
        await budgets.check(now, "k1", 1.0, "day", None, "team")


async def test_a_new_period_starts_from_nothing(store: Store) -> None:
    budgets = Budgets([], store)
    today = period_start("day", time.time()) + 3600
    await _spent_elsewhere(store, 5.0, today - DAY, key_id="k1")  # yesterday's spend
    await budgets.check(today, "k1", 1.0, "day", None, "team")
    budgets.add(today, 1.0, "k1", 1.0, "day", None, "team")
    with pytest.raises(InsufficientQuota):
        await budgets.check(today, "k1", 1.0, "day", None, "team")
    await budgets.check(today + DAY, "k1", 1.0, "day", None, "team")  # tomorrow
    with pytest.raises(InsufficientQuota):
        await budgets.check(today - DAY, "k1", 1.0, "day", None, "team")  # and yesterday was spent


async def test_the_refresh_loop_runs_every_refresh_s(store: Store) -> None:
    budgets = Budgets([], store, refresh_s=0.05)
    now = time.time()
    await budgets.check(now, "k1", 1.0, "day", None, "team")
    await budgets.start()
    try:
        await _spent_elsewhere(store, 3.0, now, key_id="k1")

        async def refused() -> bool:
            try:
                await budgets.check(time.time(), "k1", 1.0, "day", None, "team")
            except InsufficientQuota:
                return True
            return False

        await async_wait_for(refused, what="the refresh loop brought the ledger's spend")
    finally:
        await budgets.close()
