"""A day of earlier traffic written into a ledger before the gateway starts, and the keys it used.

The dashboard test runs a scripted workload through a real gateway; these older rows (spread over
the day before, never in the last hour) give its charts a history to draw, so the screenshot shows
what an operator sees. The last hour's figures come from the gateway alone.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from edge.accounting import AttemptInfo, UsageRecord
from edge.keys import KeySpec, make_key
from edge.store.sqlite import SQLiteStore

# name -> (tags, budget USD per day or None)
KEYS = {
    "acme-app": ({"customer": "acme"}, None),
    "globex-app": ({"customer": "globex"}, 25.0),
    "batch-jobs": ({"customer": "initech", "feature": "batch"}, None),
}
HOUR = 3600.0


def _rows(key_ids: dict[str, str], now: float) -> list[UsageRecord]:
    rng = random.Random(19)
    rows: list[UsageRecord] = []
    for i in range(420):
        # From 70 minutes to 23 hours back: well inside "last 24 hours", nothing in the last hour.
        ts = now - HOUR - 600 - rng.uniform(0, 22 * HOUR - 600)
        name = rng.choice(("acme-app", "acme-app", "globex-app", "batch-jobs"))
        tags, _ = KEYS[name]
        model = rng.choice(("chat", "chat", "chat", "failover"))
        prompt, completion = rng.randint(200, 4000), rng.randint(50, 2500)
        failed = rng.random() < 0.04
        log = None
        route = ("up", "echo")
        if model == "failover":
            log = [AttemptInfo("down/echo", "connection", round(rng.uniform(0.5, 2), 3), "api_error"), AttemptInfo("up/echo", "200", round(rng.uniform(40, 900), 3))]
        rows.append(UsageRecord(
            request_id=f"hist-{i}", ts=ts, public_model=model, status=502 if failed else 200, key_id=key_ids[name],
            provider=route[0], upstream_model=route[1], error_type="upstream_error" if failed else None,
            attempts=2 if log else 1, prompt_tokens=prompt, completion_tokens=0 if failed else completion,
            cost_usd=0.0 if failed else (prompt * 30.0 + completion * 60.0) / 1e6,
            latency_ms=round(rng.lognormvariate(5.5, 0.6), 3), attempt_log=log, tags=dict(tags),
        ))
    return rows


async def _seed(path: Path, now: float) -> dict[str, str]:
    store = SQLiteStore(path)
    await store.start()
    secrets: dict[str, str] = {}
    ids: dict[str, str] = {}
    try:
        for name, (tags, budget) in KEYS.items():
            secret, row = make_key(KeySpec(name=name, tags=tags, budget_usd=budget, period="day"), now=now - 30 * HOUR)
            await store.create_key(row)
            secrets[name], ids[name] = secret, row.id
        await store.insert_requests(_rows(ids, now))
    finally:
        await store.close()
    return secrets


def seed_history(path: Path) -> dict[str, str]:
    """Write the keys and a day of rows into the SQLite ledger at ``path``; key name -> secret."""
    return asyncio.run(_seed(path, time.time()))
