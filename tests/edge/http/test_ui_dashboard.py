"""The dashboard (GET /ui) in headless Chromium against a real gateway in front of the mock.

A scripted workload goes through the gateway with the openai SDK (two keys, plain and streamed,
a failing model, a route that cools down); the page, signed in with the admin key, must show what
the ledger holds: the spend to the cent (in total, per model, per tag), request counts and
latency percentiles per route, the cooling route and why, each budget's use. A key made with the
page's form works at once; revoked with its button, it leaves the list and stops working. The
admin key never reaches a URL or the log, and the page loads nothing from anywhere else.
Screenshots go to tests/artifacts/; EDGE_UPDATE_SCREENSHOTS=1 also writes docs/img/dashboard.png.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.edge.http.browser import artifacts_dir, chromium
from tests.edge.http.ui_history import seed_history
from tests.support import Mock, Server, request, wait_for, write_config

ADMIN = "sk-admin-dashboard-0123456789abcdef"
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img" / "dashboard.png"

CONFIG = """
server: {{host: 127.0.0.1, port: 0, drain_timeout_s: 10}}
state: {{ledger: "sqlite:///{home}/edge.db"}}
providers:
  up: {{kind: openai, base_url: "{mock}", api_key: sk-upstream-secret-0123456789, timeout_s: 10, models: [echo]}}
  down: {{kind: openai, base_url: "http://127.0.0.1:9/v1", timeout_s: 2, models: [echo]}}
models:
  chat: {{route: [{{provider: up, model: echo}}]}}
  failover:
    route:
      - {{provider: down, model: echo, weight: 1}}
      - {{provider: up, model: echo, weight: 0}}
  broken: {{route: [{{provider: up, model: error}}]}}
routing:
  retries: 0
  cooldown: {{consecutive_failures: 2, base_ejection_s: 600, max_ejection_s: 600}}
prices:
  echo: {{input: 30.0, output: 60.0}}
keys: {{admin: {admin}}}
budgets:
  - {{tag: customer=acme, usd: 40, period: day}}
"""

# (key, model, streamed, reply tokens)
WORKLOAD = [
    ("acme-app", "chat", False, 4000), ("acme-app", "chat", True, 9000), ("acme-app", "chat", False, 2500),
    ("globex-app", "chat", True, 12000), ("globex-app", "chat", False, 700), ("batch-jobs", "chat", False, 15000),
    ("acme-app", "failover", False, 300), ("globex-app", "failover", True, 900),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("ui-dashboard")
    keys = seed_history(home / "edge.db")
    mock = Mock()
    path = write_config(home / "edge.yaml", CONFIG.format(home=home, mock=mock.base_url, admin=ADMIN))
    gateway = Server(["serve", "--config", str(path)], cwd=str(home))
    try:
        _run_workload(gateway.url, keys)
        yield {"gateway": gateway, "keys": keys, "ledger": home / "edge.db"}
    finally:
        gateway.stop()
        mock.stop()
    assert ADMIN not in gateway.output and "sk-upstream-secret" not in gateway.output


def _run_workload(url: str, keys: dict[str, str]) -> None:
    for name, model, stream, tokens in WORKLOAD:
        with openai.OpenAI(base_url=url + "/v1", api_key=keys[name], max_retries=0, timeout=30) as client:
            messages = [{"role": "user", "content": f"scripted request for {name} " * 20}]
            if stream:
                chunks = client.chat.completions.create(model=model, messages=messages, stream=True, extra_body={"mock": {"tokens": tokens}})
                assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                assert client.chat.completions.create(model=model, messages=messages, extra_body={"mock": {"tokens": tokens}}).choices
    with openai.OpenAI(base_url=url + "/v1", api_key=keys["acme-app"], max_retries=0, timeout=30) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "fail"}])


def _ledger(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _dollars(text: str) -> float:
    assert text.startswith("$"), text
    return float(text[1:].replace(",", ""))


def _same_cents(shown: str, ledger: float) -> None:
    value = _dollars(shown)
    assert abs(value - ledger) < 0.005 and f"{value:.2f}" == f"{ledger:.2f}", (shown, ledger)


def _nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * p / 100) - 1]


def _millis(text: str) -> float:
    number, unit = text.split()
    return float(number) * (1000 if unit == "s" else 1)


def _signed_in(page: Any, url: str) -> None:
    page.goto(url + "/ui")
    page.fill("#admin-key", "sk-not-the-admin-key-000000")
    page.click("#signin-form button[type=submit]")
    # Arrow functions, not bare expressions: Playwright would eval() those in the page, which the
    # page's Content-Security-Policy (rightly) refuses.
    page.wait_for_function("() => document.getElementById('signin-error').textContent.length > 0")
    assert page.is_hidden("#board")
    page.fill("#admin-key", ADMIN)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("body[data-loaded]")


def _changed(page: Any, action: Any) -> None:
    """Do ``action`` and wait until the page has drawn a load that started after it."""
    before = int(page.get_attribute("body", "data-loaded") or 0)
    action()
    page.wait_for_function("(before) => Number(document.body.dataset.loaded) > before", arg=before)


def test_dashboard_shows_the_ledger(stack: dict[str, Any], tmp_path: Path) -> None:
    url, ledger = stack["gateway"].url, stack["ledger"]
    shots = artifacts_dir("test_dashboard_shows_the_ledger")
    seen: list[str] = []
    with chromium(tmp_path / "profile") as browser:
        page = browser.new_page()
        page.on("request", lambda r: seen.append(r.url))
        _signed_in(page, url)
        assert page.evaluate("sessionStorage.getItem('edge.admin_key')") == ADMIN

        # The default period (24 h) holds the seeded day and the workload: spend to the cent.
        day = time.time() - 86400 + 5
        [(total,)] = _ledger(ledger, "SELECT SUM(cost_usd) FROM requests WHERE ts >= ?", day)
        _same_cents(page.inner_text("#total-spend"), total)
        for model, cost in _ledger(ledger, "SELECT public_model, COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts >= ? GROUP BY 1", day):
            _same_cents(page.inner_text(f'#groups-table tr[data-group="{model}"] td:last-child'), cost)
        assert page.locator("#chart-spend canvas").count() == 1 and page.locator("#chart-tokens canvas").count() == 1
        page.screenshot(path=str(shots / "dashboard-24h.png"), full_page=True)
        if os.environ.get("EDGE_UPDATE_SCREENSHOTS") == "1":
            DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shots / "dashboard-24h.png", DOCS_IMG)

        # The last hour is the workload alone: the gateway's own rows.
        _changed(page, lambda: page.select_option("#period", "1h"))
        hour = time.time() - 3600 + 5
        [(total, count)] = _ledger(ledger, "SELECT SUM(cost_usd), COUNT(*) FROM requests WHERE ts >= ?", hour)
        assert count == len(WORKLOAD) + 1
        _same_cents(page.inner_text("#total-spend"), total)
        assert page.inner_text("#total-requests") == str(count) and page.inner_text("#total-errors") == "1"

        # Spend by tag.
        _changed(page, lambda: page.select_option("#group", "tag"))
        for customer, cost in _ledger(ledger, "SELECT json_extract(tags, '$.customer'), SUM(cost_usd) FROM requests WHERE ts >= ? GROUP BY 1", hour):
            _same_cents(page.inner_text(f'#groups-table tr[data-group="{customer}"] td:last-child'), cost)

        # Requests, errors by type and latency per model and route.
        for model, route, requests in _ledger(ledger, "SELECT public_model, provider || '/' || upstream_model, COUNT(*) FROM requests WHERE ts >= ? GROUP BY 1, 2", hour):
            row = page.locator(f'#traffic-table tr[data-model="{model}"][data-route="{route}"]')
            assert row.locator("td").nth(2).inner_text() == str(requests)
        latencies = [ms for (ms,) in _ledger(ledger, "SELECT latency_ms FROM requests WHERE ts >= ? AND public_model = 'chat' AND status < 400", hour)]
        chat = page.locator('#traffic-table tr[data-model="chat"][data-route="up/echo"] td')
        assert abs(_millis(chat.nth(5).inner_text()) - _nearest_rank(latencies, 50)) < 0.051
        assert abs(_millis(chat.nth(6).inner_text()) - _nearest_rank(latencies, 99)) < 0.051
        broken = page.locator('#traffic-table tr[data-model="broken"][data-route="up/error"] td')
        [(error_type,)] = _ledger(ledger, "SELECT error_type FROM requests WHERE public_model = 'broken'")
        assert broken.nth(3).inner_text() == "1" and broken.nth(4).inner_text() == f"{error_type}: 1"

        # The route that failed twice is cooling down, and the page says why.
        cooling = page.locator('#routes-table tr[data-route="down/echo"]')
        assert "cooling" in (cooling.get_attribute("class") or "")
        assert cooling.locator(".state").inner_text() == "open"
        why = cooling.locator("td").nth(5).inner_text()
        assert "2 x connection api_error" in why and "probe" in why, why
        assert page.locator('#routes-table tr[data-route="up/echo"] .state').inner_text() == "closed"

        # Budgets and their use this UTC day.
        start = time.time() // 86400 * 86400
        [(acme,)] = _ledger(ledger, "SELECT SUM(cost_usd) FROM requests WHERE ts >= ? AND json_extract(tags, '$.customer') = 'acme'", start)
        _same_cents(page.inner_text('#budgets-table tr[data-budget="tag:customer=acme"] td:nth-child(5)'), acme)
        [(globex,)] = _ledger(ledger, "SELECT SUM(cost_usd) FROM requests r JOIN keys k ON k.id = r.key_id WHERE r.ts >= ? AND k.name = 'globex-app'", start)
        _same_cents(page.inner_text('#budgets-table tr[data-budget="key:globex-app"] td:nth-child(5)'), globex)
        page.screenshot(path=str(shots / "dashboard-1h-by-tag.png"), full_page=True)

        page.click("#signout")
        assert page.evaluate("sessionStorage.getItem('edge.admin_key')") is None
        assert page.is_visible("#signin")
    assert seen and all(u.startswith(url + "/") for u in seen), [u for u in seen if not u.startswith(url + "/")]
    assert not any(ADMIN in u for u in seen)


def test_a_key_made_in_the_page_works_and_revoked_it_leaves(stack: dict[str, Any], tmp_path: Path) -> None:
    url = stack["gateway"].url
    shots = artifacts_dir("test_a_key_made_in_the_page_works_and_revoked_it_leaves")
    with chromium(tmp_path / "profile") as browser:
        page = browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        _signed_in(page, url)
        form = page.locator("#key-form")
        form.locator("input[name=name]").fill("made-in-ui")
        form.locator("input[name=models]").fill("chat")
        form.locator("input[name=rpm]").fill("120")
        form.locator("input[name=tags]").fill("customer=hooli, team=search")
        form.locator("button[type=submit]").click()
        page.wait_for_selector('#keys-table tr[data-key-name="made-in-ui"]')
        secret = page.inner_text("#new-key-value")
        assert secret.startswith("sk-edge-")
        page.screenshot(path=str(shots / "key-made.png"), full_page=True)
        listed = json.loads(request("GET", url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"})[2])["data"]
        [made] = [k for k in listed if k["name"] == "made-in-ui"]
        assert (made["models"], made["rpm"], made["tags"]) == (["chat"], 120, {"customer": "hooli", "team": "search"})

        with openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0, timeout=30) as client:
            assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}]).choices
            with pytest.raises(openai.PermissionDeniedError):
                client.chat.completions.create(model="failover", messages=[{"role": "user", "content": "hi"}])

            page.click("#new-key-done")
            page.locator('#keys-table tr[data-key-name="made-in-ui"] button.revoke').click()
            page.wait_for_selector('#keys-table tr[data-key-name="made-in-ui"]', state="detached")
            assert page.locator('#keys-table tr[data-key-name="acme-app"]').count() == 1
            page.screenshot(path=str(shots / "key-revoked.png"), full_page=True)

            def refused() -> bool:
                try:
                    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
                except openai.AuthenticationError as exc:
                    assert "revoked" in str(exc)
                    return True
                return False

            wait_for(refused, what="the revoked key refused")
        page.check("#show-revoked")
        page.wait_for_selector('#keys-table tr.revoked[data-key-name="made-in-ui"]')
