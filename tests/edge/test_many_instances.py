"""Many hosts: two gateway processes on their own ports, one PostgreSQL and one Redis between them.

The configuration a multi-host deployment runs (examples/deploy): ``state.ledger`` on
PostgreSQL (a fresh schema here, so runs never collide) and ``state.redis``. Against the two
instances at once, this shows: a key made on one works on the other at once (an unknown key is
looked up in the store before it is refused); a rate limit holds exactly across both; a budget
spent through one stops the other; a route cooled down by one is skipped by the other without
an upstream call; and every request either instance answered, refusals included, is one row
in the one ledger.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.edge.limits.test_limits import _redis_up
from tests.edge.store.pg_server import drop_schema, fetch, new_schema, require_postgres_sync, schema_url
from tests.support import Mock, Server, request, write_config

ADMIN = "sk-edge-admin-" + secrets.token_hex(12)


class Pair:
    def __init__(self, a: Server, b: Server, provider: str, ledger: str, mock: Mock) -> None:
        self.a, self.b, self.provider, self.ledger, self.mock = a, b, provider, ledger, mock
        self.sent: list[str] = []  # request ids of every API request sent to either instance

    def chat(self, server: Server, key: str, model: str = "chat", knobs: dict[str, Any] | None = None, tags: str | None = None, ledgered: bool = True) -> tuple[int, dict[str, Any]]:
        """One chat request; ``ledgered``: it passed authentication, so it gets a ledger row."""
        rid = f"many-{secrets.token_hex(6)}"
        if ledgered:
            self.sent.append(rid)
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "count these five words"}]}
        if knobs:
            body["mock"] = knobs
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}", "x-request-id": rid}
        if tags:
            headers["x-edge-tags"] = tags
        status, _, data = request("POST", server.url + "/v1/chat/completions", json.dumps(body).encode(), headers)
        return status, json.loads(data)

    def new_key(self, server: Server, **fields: Any) -> str:
        body = json.dumps({"name": f"k-{secrets.token_hex(4)}", **fields}).encode()
        status, _, data = request("POST", server.url + "/v1/keys", body, {"content-type": "application/json", "authorization": f"Bearer {ADMIN}"})
        assert status == 201, data
        return json.loads(data)["key"]


def _config(home: Path, mock: Mock, ledger: str, provider: str) -> str:
    # A provider name of its own: the routes' cooldown marks in the shared Redis are this run's.
    return f"""
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state:
  ledger: "{ledger}"
  redis: redis://127.0.0.1:6379/0
providers:
  {provider}: {{kind: openai, base_url: "{mock.base_url}", timeout_s: 5}}
models:
  chat: {{route: [{{provider: {provider}, model: echo}}]}}
  fragile: {{route: [{{provider: {provider}, model: fragile}}], panic: false}}  # 503 while cooling (not panic routing)
prices:
  echo: {{input: 100.0, output: 200.0}}
  fragile: {{input: 1.0, output: 1.0}}
routing:
  retries: 0
  cooldown: {{consecutive_failures: 2, base_ejection_s: 60, max_ejection_percent: 100}}
keys:
  admin: {ADMIN}
"""


@pytest.fixture()
def pair(tmp_path: Path) -> Iterator[Pair]:
    require_postgres_sync()
    if not _redis_up():
        if __import__("os").environ.get("CI") == "true":
            pytest.fail("CI=true but Redis is not answering on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    schema = new_schema()
    ledger = schema_url(schema)
    provider = f"up{secrets.token_hex(4)}"
    mock = Mock()
    path = write_config(tmp_path / "edge.yaml", _config(tmp_path, mock, ledger, provider))
    # Two instances: separate processes, separate ports, the same file, like two hosts.
    a = Server(["serve", "--config", str(path)], cwd=str(tmp_path))
    b = Server(["serve", "--config", str(path)], cwd=str(tmp_path))
    assert a.port != b.port
    try:
        yield Pair(a, b, provider, ledger, mock)
    finally:
        for server in (a, b):
            server.stop()
        mock.stop()
        asyncio.run(drop_schema(schema))
    for server in (a, b):
        assert "Traceback" not in server.output, server.output
        assert ADMIN not in server.output


def _poll(check: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


def test_two_instances_share_keys_limits_budgets_cooldowns_and_the_ledger(pair: Pair) -> None:
    a, b = pair.a, pair.b

    # -- a key made on one instance works on the other at once (both directions) -----------
    for made_on, used_on in ((a, b), (b, a), (a, b)):
        key = pair.new_key(made_on)
        status, body = pair.chat(used_on, key)
        assert status == 200, body
    with OpenAI(base_url=b.url + "/v1", api_key=pair.new_key(a), max_retries=0) as client:
        rid = f"many-sdk-{secrets.token_hex(6)}"
        pair.sent.append(rid)
        reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid})
        assert reply.choices[0].message.content
    # An unknown key is still refused, on both (before any ledger row: it is nobody's request).
    for server in (a, b):
        assert pair.chat(server, "sk-edge-" + secrets.token_urlsafe(32), ledgered=False)[0] == 401

    # -- one rate limit, exact across both ---------------------------------------------------
    limited = pair.new_key(a, rpm=6)
    started = time.monotonic()
    outcomes = [(server, pair.chat(server, limited)) for server in (a, b) * 7]
    elapsed = time.monotonic() - started
    allowed = [s for s, (status, _) in outcomes if status == 200]
    refused = [s for s, (status, body) in outcomes if status == 429 and body["error"]["code"] == "rate_limit_exceeded"]
    # GCRA: the whole limit at once, then one more every 10 s.
    assert len(allowed) == 6 + int(elapsed // 10) and len(allowed) + len(refused) == 14
    assert a in allowed and b in allowed and a in refused and b in refused  # one count, both instances

    # -- one budget: spent through A, it stops B ------------------------------------------------
    # Each request costs the same here (same prompt, same echo): a budget of about 12 of them.
    probe = pair.new_key(a)
    status, body = pair.chat(a, probe)
    usage = body["usage"]
    cost = (usage["prompt_tokens"] * 100.0 + usage["completion_tokens"] * 200.0) / 1e6
    budgeted = pair.new_key(a, budget_usd=round(cost * 12, 8), period="day")
    spent_on_a = 0
    while True:
        status, body = pair.chat(a, budgeted)
        if status != 200:
            assert status == 429 and body["error"]["type"] == "insufficient_quota", body
            break
        spent_on_a += 1
        assert spent_on_a <= 20
    # B sees A's spend within about a second (the ledger's batch, then B's read of it): it lets
    # through a few requests at most, where on its own budget it would let 12 through.
    spent_on_b = 0

    def b_refuses() -> bool:
        nonlocal spent_on_b
        status, body = pair.chat(b, budgeted)
        if status == 200:
            spent_on_b += 1
            return False
        assert status == 429 and body["error"]["type"] == "insufficient_quota", body
        return True

    assert _poll(b_refuses, timeout=10, interval=0.25)
    assert spent_on_a >= 11 and spent_on_b <= 6, (spent_on_a, spent_on_b)

    # -- one cooldown: A's failures open the route for B -------------------------------------
    user = pair.new_key(a)
    assert pair.chat(b, user, "fragile")[0] == 200  # B knows the route, and saw it well
    for _ in range(2):
        assert pair.chat(a, user, "fragile", knobs={"status": 503})[0] == 503
    calls = pair.mock.stats()["chat_requests"]

    def b_cools() -> bool:
        status, body = pair.chat(b, user, "fragile")
        if status == 200:
            return False  # B has not read the shared mark yet: its own breaker saw no failure
        assert status == 503 and body["error"]["code"] == "cooling_down", body
        return True

    assert _poll(b_cools, timeout=5, interval=0.2)
    successes_before = pair.mock.stats()["chat_requests"] - calls
    # Refused without an upstream call: only B's earlier, successful polls reached the mock.
    status, body = pair.chat(b, user, "fragile")
    assert (status, body["error"]["code"]) == (503, "cooling_down")
    assert pair.mock.stats()["chat_requests"] - calls == successes_before

    # -- every request either instance answered is one row in the one ledger -----------------
    for server in (a, b):
        assert server.stop() == 0  # graceful: each flushes what it holds
    rows = asyncio.run(fetch(pair.ledger, "SELECT request_id, status, key_id FROM requests"))
    ids = [r["request_id"] for r in rows]
    assert sorted(ids) == sorted(pair.sent), (set(pair.sent) ^ set(ids))
    statuses = {r["request_id"]: r["status"] for r in rows}
    assert sum(1 for s in statuses.values() if s == 429) >= len(refused) + 2
