"""Rate limits while Redis is lost, restarted empty or frozen (issue 16, item 6).

A real gateway with 2 workers in front of the mock, sharing limits through a redis-server of the
test's own (tests/edge/limits/redis_server.py), which is killed and restarted empty, or frozen
with SIGSTOP, while 8 clients keep sending requests with one key. What must hold: the requests
admitted over the run stay within what the key's limit allows in that time (GCRA: the whole
limit at once, then limit/60 per second) plus a small slack (``SLACK`` requests: the ones that
were in flight at Redis when it went away, charged by neither side); and a frozen Redis costs a
request at most ``limits.redis_timeout_s`` once, not half a second on every tenth request.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import Mock, Server, gateway_config, request, write_config

from .redis_server import OwnRedis

ADMIN = "edge-admin-outage-0000000001"
SLACK = 4


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture()
def gateway(mock: Mock, redis: OwnRedis, tmp_path: Path) -> Iterator[Server]:
    text = gateway_config(mock.base_url, tmp_path, extra=f"keys:\n  admin: {ADMIN}\n")
    text = text.replace("state:\n", f"state:\n  redis: {redis.url}\n")
    path = write_config(tmp_path / "edge.yaml", text)
    server = Server(["serve", "--config", str(path), "--workers", "2"], cwd=str(tmp_path))
    deadline = time.monotonic() + 15
    while server.output.count("serving on") < 2:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.05)
    yield server
    assert server.stop() == 0
    assert "Traceback" not in server.output, server.output[-3000:]


def _key(server: Server, rpm: int) -> str:
    body = json.dumps({"name": f"outage-{uuid.uuid4().hex[:8]}", "rpm": rpm}).encode()
    status, _, data = request("POST", server.url + "/v1/keys", body, {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert status == 201, data
    key = json.loads(data)["key"]
    # Every worker re-reads keys every 0.5 s; /v1/models authenticates without using the limit.
    deadline, in_a_row = time.monotonic() + 10, 0
    while in_a_row < 12:
        assert time.monotonic() < deadline, "the new key never worked on every worker"
        in_a_row = in_a_row + 1 if request("GET", server.url + "/v1/models", headers={"authorization": f"Bearer {key}"})[0] == 200 else 0
    return key


def _chat(server: Server, key: str) -> tuple[int, float, float]:
    """One request: its status, when it was sent and how long it took (s)."""
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()
    started = time.monotonic()
    status, _, _ = request("POST", server.url + "/v1/chat/completions", body, {"authorization": f"Bearer {key}", "content-type": "application/json"})
    return status, started, time.monotonic() - started


class Load:
    """``clients`` threads sending requests with one key until stopped."""

    def __init__(self, server: Server, key: str, clients: int = 8) -> None:
        self.results: list[tuple[int, float, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(clients)
        self._futures = [self._pool.submit(self._run, server, key) for _ in range(clients)]

    def _run(self, server: Server, key: str) -> None:
        while not self._stop.is_set():
            result = _chat(server, key)
            with self._lock:
                self.results.append(result)

    def admitted(self) -> int:
        with self._lock:
            return sum(1 for status, _, _ in self.results if status == 200)

    def wait_admitted(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.admitted() < count:
            assert time.monotonic() < deadline, f"only {self.admitted()} admitted"
            time.sleep(0.02)

    def stop(self) -> list[tuple[int, float, float]]:
        self._stop.set()
        for future in self._futures:
            future.result(30)
        self._pool.shutdown()
        return self.results


def _allowed(rpm: int, seconds: float) -> float:
    """GCRA: the whole limit at once, then rpm/60 per second."""
    return rpm + seconds * rpm / 60.0


def test_killed_then_restarted_empty_redis_does_not_grant_fresh_windows(gateway: Server, redis: OwnRedis) -> None:
    key = _key(gateway, rpm=60)
    load = Load(gateway, key)
    try:
        load.wait_admitted(60)  # the whole limit, through Redis
        redis.kill()
        time.sleep(1.5)  # the outage lasts this long, under load
        redis.start()  # empty
        time.sleep(2.0)  # and the load goes on against the empty Redis
    finally:
        results = load.stop()
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}, sorted(set(statuses))
    first = min(started for status, started, _ in results if status == 200)
    last = max(started + took for status, started, took in results if status == 200)
    admitted = statuses.count(200)
    allowed = _allowed(60, last - first)
    assert admitted <= allowed + SLACK, f"{admitted} admitted in {last - first:.1f} s; the limit allows {allowed:.0f} (+{SLACK})"
    assert 200 in statuses and 429 in statuses


def test_frozen_redis_costs_a_bounded_delay_once(gateway: Server, redis: OwnRedis) -> None:
    key = _key(gateway, rpm=100_000)  # latency only: the limit never says no here
    for _ in range(20):
        assert _chat(gateway, key)[0] == 200
    redis.freeze()
    try:
        load = Load(gateway, key, clients=4)
        time.sleep(5.0)  # frozen this long, under load
        results = load.stop()
    finally:
        redis.thaw()
    assert {status for status, _, _ in results} == {200}
    slow = sorted(took for _, _, took in results if took > 0.3)
    # Before: every worker tried the frozen Redis again each second and waited 0.5 s for it.
    assert len(slow) <= 2, f"{len(slow)} of {len(results)} requests took over 0.3 s: {slow}"
    after = [_chat(gateway, key) for _ in range(20)]  # Redis answers again: nothing is stuck
    assert {status for status, _, _ in after} == {200}
