"""Keys, rate limits, budgets and tags, through real gateways (several workers, and Redis).

The gateways here re-read keys and budget spend every 0.05 s (keys.refresh_s,
limits.budget_refresh_s; 0.5 s and 1 s by default) and the tests poll for the effect.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from edge.fastpath import tokens
from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

ADMIN = "edge-admin-limits-000000000001"


def _admin(server: Server, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, data = request(method, server.url + path, json.dumps(body).encode() if body is not None else None,
                              {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    return status, json.loads(data)


def _new_key(server: Server, **spec: object) -> dict:
    status, doc = _admin(server, "POST", "/v1/keys", {"name": f"k-{uuid.uuid4().hex[:8]}", **spec})
    assert status == 201, doc
    return doc


def _chat_body(text: str, **extra: object) -> dict:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}


def _chat(server: Server, key: str, text: str = "hi", headers: dict | None = None, **extra: object) -> tuple[int, dict[str, str], bytes]:
    return request("POST", server.url + "/v1/chat/completions", json.dumps(_chat_body(text, **extra)).encode(),
                   {"authorization": f"Bearer {key}", "content-type": "application/json", **(headers or {})})


def _chunked_chat(server: Server, key: str, text: str) -> tuple[int, dict[str, str], bytes]:
    """The same request with a chunked body: no Content-Length for admission to read the size from."""
    raw = json.dumps(_chat_body(text)).encode()
    conn = http.client.HTTPConnection(server.url.split("//")[1].split(":")[0], int(server.url.rsplit(":", 1)[1]), timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", body=iter([raw[: len(raw) // 2], raw[len(raw) // 2 :]]),
                     headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _config(mock: Mock, home: Path, extra: str = "") -> Path:
    timers = "  refresh_s: 0.05\nlimits:\n  budget_refresh_s: 0.05\n"
    return write_config(home / "edge.yaml", gateway_config(mock.base_url, home, extra=f"keys:\n  admin: {ADMIN}\n{timers}{extra}"))


def _models_status(server: Server, key: str) -> int:
    """GET /v1/models with a key: authenticates it and nothing else (no limit, no budget)."""
    return request("GET", server.url + "/v1/models", headers={"authorization": f"Bearer {key}"})[0]


def _worker(headers: dict[str, str]) -> str:
    """Which worker answered: a generated x-request-id starts with the worker's own random
    prefix ("req_" and 16 hex digits, edge/ids.py)."""
    return headers["x-request-id"][:20]


def _on_every_worker(ask: Callable[[], tuple[int, dict[str, str], bytes]], ok: Callable[[int, bytes], bool], what: str, workers: int = 2) -> None:
    """Ask on new connections (the kernel hands each to any worker) until every worker has
    answered as ``ok`` says. Each case here only moves one way (a key once loaded stays, a
    revoked key stays refused, spend only grows), so one such answer per worker is enough."""
    seen: set[str] = set()

    def every_worker_answered() -> bool:
        status, headers, body = ask()
        if ok(status, body):
            seen.add(_worker(headers))
        assert len(seen) <= workers, f"x-request-id no longer tells the workers apart: {seen}"
        return len(seen) == workers

    wait_for(every_worker_answered, what=f"{what} on every worker")


def _key_on_every_worker(server: Server, key: str, status: int = 200) -> None:
    """The worker that made the change reloaded its keys at once, the others within keys.refresh_s."""
    ask = lambda: request("GET", server.url + "/v1/models", headers={"authorization": f"Bearer {key}"})  # noqa: E731
    _on_every_worker(ask, lambda got, _: got == status, f"{status} for the key")


def _refused_on_every_worker(server: Server, key: str, code: str, **chat: object) -> None:
    """Every worker refuses with ``code``: its own spend at once, the others' through the ledger
    within a flush and a budget refresh."""

    def refused(status: int, body: bytes) -> bool:
        return status == 429 and json.loads(body)["error"]["code"] == code

    _on_every_worker(lambda: _chat(server, key, **chat), refused, code)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def workers(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers on one host, no Redis: limits must still be exact across them."""
    home = tmp_path_factory.mktemp("limits")
    path = _config(mock, home, "budgets:\n  - {tag: customer=capped, usd: 0.00001, period: day}\n")
    server = Server(["serve", "--config", str(path), "--workers", "2", "--port", "0"], cwd=str(home))
    server.home = home  # type: ignore[attr-defined]
    wait_for(lambda: server.output.count("serving on") >= 2, timeout=15, what="both workers serving")
    yield server
    server.stop()
    assert ADMIN not in server.output


def test_key_lifecycle(workers: Server, mock: Mock) -> None:
    made = _new_key(workers, models=["chat", "up/*"])
    key = made["key"]
    assert key.startswith("sk-edge-") and made["prefix"].endswith("...")
    _key_on_every_worker(workers, key)
    with openai.OpenAI(base_url=workers.url + "/v1", api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "ok"}]).choices[0].message.content == "ok"
        assert client.chat.completions.create(model="up/echo", messages=[{"role": "user", "content": "ok"}]).choices[0].message.content == "ok"
        before = mock.stats()["requests"]
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.chat.completions.create(model="failover", messages=[{"role": "user", "content": "no"}])
        assert info.value.code == "model_not_allowed" and mock.stats()["requests"] == before
        status, listing = _admin(workers, "GET", "/v1/keys")
        assert status == 200 and key not in json.dumps(listing)
        assert any(row["id"] == made["id"] for row in listing["data"])
        assert _admin(workers, "DELETE", f"/v1/keys/{made['id']}")[0] == 200
        revoked_at = time.monotonic()
        # soon every worker refuses it (several requests reach both workers)
        _key_on_every_worker(workers, key, 401)
        for _ in range(6):
            with pytest.raises(openai.AuthenticationError) as info:
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
            assert info.value.code == "key_revoked"
        assert time.monotonic() - revoked_at < 3
        # non-admin keys cannot use the admin API
        other = _new_key(workers)["key"]
        _key_on_every_worker(workers, other)
        status, _, _ = request("GET", workers.url + "/v1/keys", headers={"authorization": f"Bearer {other}"})
        assert status == 403


def test_rpm_is_exact_across_workers(workers: Server, mock: Mock) -> None:
    key = _new_key(workers, rpm=5)["key"]
    _key_on_every_worker(workers, key)
    before = mock.stats()["chat_requests"]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: _chat(workers, key, f"r{i}"), range(12)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 5 + [429] * 7
    assert mock.stats()["chat_requests"] - before == 5  # refused requests never reached the upstream
    refused = next(r for r in results if r[0] == 429)
    headers = refused[1]
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "5" and headers["x-ratelimit-remaining-requests"] == "0"
    assert json.loads(refused[2])["error"]["code"] == "rate_limit_exceeded"
    ok = next(r for r in results if r[0] == 200)
    assert ok[1]["x-ratelimit-limit-requests"] == "5"


def test_tpm_limit_and_oversized_request(workers: Server) -> None:
    key = _new_key(workers, tpm=100)["key"]
    _key_on_every_worker(workers, key)
    status, _, body = _chat(workers, key, "word " * 400)
    assert status == 429 and json.loads(body)["error"]["code"] == "tokens_exceed_limit"
    statuses = [_chat(workers, key, "a few words in this prompt")[0] for _ in range(8)]
    assert statuses[0] == 200 and statuses[-1] == 429
    status, headers, body = _chat(workers, key, "again")
    assert status == 429 and "tokens per minute" in json.loads(body)["error"]["message"]
    assert headers["x-ratelimit-limit-tokens"] == "100"



def test_a_prompt_over_the_token_limit_is_refused_without_an_upstream_call(workers: Server, mock: Mock) -> None:
    key = _new_key(workers, tpm=50_000)["key"]
    _key_on_every_worker(workers, key)
    before = mock.stats()["chat_requests"]
    text = "word " * 80_000  # 400 KB: about 104,000 tokens by its size
    for send in (_chat, _chunked_chat):  # the size from Content-Length, and from the body read
        status, headers, body = send(workers, key, text)
        assert status == 429 and json.loads(body)["error"]["code"] == "tokens_exceed_limit", body[:200]
        assert headers["x-should-retry"] == "false"
    assert mock.stats()["chat_requests"] == before
    status, headers, _ = _chat(workers, key, "hi")  # the refusals took nothing from the limit
    assert status == 200 and int(headers["x-ratelimit-remaining-tokens"]) > 50_000 - 100


def test_settling_replaces_the_estimate_with_the_real_usage(workers: Server) -> None:
    """Admission charges the estimate from the body's size; the answer's usage replaces it, so
    the next request's x-ratelimit-remaining-tokens shows what was really used."""
    tpm = 30_000  # refills 0.5 tokens a millisecond: far less than estimate and usage differ by
    key = _new_key(workers, tpm=tpm)["key"]
    _key_on_every_worker(workers, key)
    text = "word " * 8000  # 40 KB: about 10,400 tokens by its size; the mock counts 8,007 of prompt
    sent = _chat_body(text, max_tokens=5)  # and 5 of answer
    estimate = tokens.estimate_body_tokens(sent["messages"], len(json.dumps(sent).encode()))
    started = time.monotonic()
    status, headers, body = _chat(workers, key, text, max_tokens=5)
    assert status == 200
    first, used = int(headers["x-ratelimit-remaining-tokens"]), json.loads(body)["usage"]["total_tokens"]
    status, headers, _ = _chat(workers, key, text, max_tokens=5)
    assert status == 200
    second = int(headers["x-ratelimit-remaining-tokens"])
    refill = (time.monotonic() - started) * tpm / 60 + 1
    assert estimate - used > 2 * refill  # the two readings below cannot be mistaken for each other
    assert tpm - estimate - 2 <= first <= tpm - estimate + refill
    assert tpm - used - estimate - 2 <= second <= tpm - used - estimate + refill

def test_key_budget(workers: Server, mock: Mock) -> None:
    key = _new_key(workers, budget_usd=0.00001, period="day")["key"]
    _key_on_every_worker(workers, key)
    assert _chat(workers, key, "spend it")[0] == 200  # costs ~1.5e-5 USD at the test prices
    _refused_on_every_worker(workers, key, "insufficient_quota", text="more")
    before = mock.stats()["chat_requests"]
    for _ in range(4):
        status, headers, body = _chat(workers, key, "more")
        assert status == 429
        assert json.loads(body)["error"]["code"] == "insufficient_quota"
        assert headers["x-should-retry"] == "false"
    assert mock.stats()["chat_requests"] == before


def test_tags_reach_the_ledger_and_tag_budgets_hold(workers: Server) -> None:
    key = _new_key(workers, tags={"team": "search"})["key"]
    _key_on_every_worker(workers, key)
    status, headers, _ = _chat(workers, key, "tagged", headers={"x-edge-tags": "feature=summary,customer=acme,team=spoofed"}, metadata={"workflow": "nightly"})
    assert status == 200
    request_id = headers["x-request-id"]

    def row() -> tuple | None:
        with sqlite3.connect(workers.home / "edge.db") as db:  # type: ignore[attr-defined]
            return db.execute("SELECT tags FROM requests WHERE request_id = ?", (request_id,)).fetchone()

    row = wait_for(row, what=f"the ledger row of {request_id}")
    assert json.loads(row[0]) == {"feature": "summary", "customer": "acme", "workflow": "nightly", "team": "search"}
    assert _chat(workers, key, "x", headers={"x-edge-tags": "no-equals-sign"})[0] == 400
    # the config's budget for customer=capped
    assert _chat(workers, key, "spend", headers={"x-edge-tags": "customer=capped"})[0] == 200
    _refused_on_every_worker(workers, key, "insufficient_quota", text="over", headers={"x-edge-tags": "customer=capped"})
    status, _, body = _chat(workers, key, "over", headers={"x-edge-tags": "customer=capped"})
    assert status == 429 and json.loads(body)["error"]["type"] == "insufficient_quota"
    assert _chat(workers, key, "other customer", headers={"x-edge-tags": "customer=other"})[0] == 200


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture()
def redis_url() -> str:
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Redis is not answering on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


def test_two_instances_share_one_limit_through_redis(mock: Mock, tmp_path: Path, redis_url: str) -> None:
    path = _config(mock, tmp_path, "").read_text().replace("state:\n", f"state:\n  redis: {redis_url}\n")
    config = write_config(tmp_path / "edge.yaml", path)
    first = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    second = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    try:
        key = _new_key(first, rpm=4)["key"]  # the first reloaded its keys at once
        wait_for(lambda: _models_status(second, key) == 200, what="the second instance knows the key")
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda i: _chat(first if i % 2 else second, key, f"r{i}")[0], range(10)))
        assert sorted(results) == [200] * 4 + [429] * 6
    finally:
        first.stop()
        second.stop()


def test_redis_outage_degrades_to_host_limits(mock: Mock, tmp_path: Path) -> None:
    text = _config(mock, tmp_path, "").read_text().replace("state:\n", "state:\n  redis: redis://127.0.0.1:1/0\n")
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", text))], cwd=str(tmp_path))
    try:
        key = _new_key(server, rpm=3)["key"]  # one worker, which reloaded its keys at once
        statuses = [_chat(server, key, f"n{i}")[0] for i in range(5)]
        assert statuses == [200, 200, 200, 429, 429]  # still limited, exactly, without Redis
    finally:
        server.stop()
    # One warning from the rate limits (the cooldowns, which use the same Redis, may add their own).
    assert server.output.count("rate limits: Redis is not answering") == 1


def test_cooldown_is_shared_through_redis(mock: Mock, tmp_path: Path, redis_url: str) -> None:
    """Failures seen by one instance cool the route down on another (within a poll, 0.5 s)."""
    text = gateway_config(mock.base_url, tmp_path, routing="routing:\n  retries: 0\n  cooldown: {consecutive_failures: 3, base_ejection_s: 10}\n")
    text = text.replace("state:\n", f"state:\n  redis: {redis_url}\n")
    # A route no earlier run has touched, behind a model that answers 503 while it cools down
    # (panic: false; by default the route that cooled first would still be tried).
    upstream = f"cooldown-{uuid.uuid4().hex[:10]}"
    text = text.replace("models:\n", f"models:\n  cooling: {{route: [{{provider: up, model: {upstream}}}], panic: false}}\n")
    config = write_config(tmp_path / "edge.yaml", text)
    first = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    second = Server(["serve", "--config", str(config)], cwd=str(tmp_path))
    model = "cooling"
    body = lambda knobs: json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}], "mock": knobs}).encode()  # noqa: E731
    try:
        assert request("POST", second.url + "/v1/chat/completions", body({}), {"content-type": "application/json"})[0] == 200
        for _ in range(3):
            status, _, _ = request("POST", first.url + "/v1/chat/completions", body({"status": 503}), {"content-type": "application/json"})
            assert status == 503

        def cooled_down_on_second() -> bool:
            before = mock.stats()["chat_requests"]
            status, _, data = request("POST", second.url + "/v1/chat/completions", body({}), {"content-type": "application/json"})
            if status == 200:
                return False  # its next poll of the shared marks has not come yet
            assert status == 503 and json.loads(data)["error"]["code"] == "cooling_down", data
            assert mock.stats()["chat_requests"] == before  # the second instance never called the upstream
            return True

        wait_for(cooled_down_on_second, what="the route cooled down on the second instance")
    finally:
        first.stop()
        second.stop()
