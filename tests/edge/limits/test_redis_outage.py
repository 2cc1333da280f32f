"""Rate limits while Redis is lost, restarted empty or frozen (issue 16, item 6).

A real gateway with 2 workers in front of the mock, sharing limits through a redis-server of the
test's own (tests/edge/limits/redis_server.py), which is killed and restarted empty, or frozen
with SIGSTOP, while 8 clients keep sending requests with one key. What must hold: the requests
admitted over the run stay within what the key's limit allows in that time (GCRA: the whole
limit at once, then limit/60 per second) plus a small slack (``SLACK`` requests: the ones that
in flight when Redis went away, and the refill's rounding); and a frozen Redis costs a request
at most ``limits.redis_timeout_s`` (0.1 s here) once, not half a second on every tenth request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_sync

from tests.support import Mock, Server, gateway_config, request, wait_for, write_config

from .redis_server import OwnRedis

ADMIN = "edge-admin-outage-0000000001"
SLACK = 4
TIMEOUT_S = 0.1  # limits.redis_timeout_s of these gateways


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture()
def gateway(mock: Mock, redis: OwnRedis, tmp_path: Path) -> Iterator[Server]:
    text = gateway_config(mock.base_url, tmp_path, extra=f"keys:\n  admin: {ADMIN}\nlimits:\n  redis_timeout_s: {TIMEOUT_S}\n")
    text = text.replace("state:\n", f"state:\n  redis: {redis.url}\n")
    path = write_config(tmp_path / "edge.yaml", text)
    # The ledger exists before two workers open it: two workers creating a fresh SQLite file at
    # the same moment can race on its journal mode (issue 16, item 9), not what is tested here.
    subprocess.run([sys.executable, "-m", "edge.cli", "keys", "--config", str(path), "list"], check=True, capture_output=True, cwd=str(tmp_path))
    server = Server(["serve", "--config", str(path), "--workers", "2"], cwd=str(tmp_path))
    try:
        wait_for(lambda: server.output.count("serving on") >= 2, 30, what="two workers serving")
    except BaseException:
        # Never left behind: a supervisor nobody stops serves on, idle, after the run ends.
        server.stop()
        raise
    yield server
    assert server.stop() == 0
    assert "Traceback" not in server.output, server.output[-3000:]


def _key(server: Server, rpm: int, workers: int = 2) -> str:
    body = json.dumps({"name": f"outage-{uuid.uuid4().hex[:8]}", "rpm": rpm}).encode()
    status, _, data = request("POST", server.url + "/v1/keys", body, {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    assert status == 201, data
    key = json.loads(data)["key"]
    _wait_key(server, key, workers)
    return key


def _wait_key(server: Server, key: str, workers: int = 2) -> None:
    """Until every worker accepts the key (they re-read keys every 0.5 s). /v1/models
    authenticates without using the limit; a request id's first 16 hex digits name its worker
    (edge/ids.py)."""
    deadline, ready = time.monotonic() + 10, set()
    while len(ready) < workers:
        assert time.monotonic() < deadline, f"the new key works on {len(ready)} of {workers} workers"
        status, headers, _ = request("GET", server.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
        if status == 200:
            ready.add(headers["x-request-id"][:20])


def _chat(server: Server, key: str) -> tuple[int, float, float]:
    """One request: its status, when it was sent and how long it took (s)."""
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()
    started = time.monotonic()
    status, _, _ = request("POST", server.url + "/v1/chat/completions", body, {"authorization": f"Bearer {key}", "content-type": "application/json"})
    return status, started, time.monotonic() - started


class Load:
    """``clients`` threads sending requests with one key until stopped (spread over ``servers``)."""

    def __init__(self, servers: Server | list[Server], key: str, clients: int = 8) -> None:
        targets = servers if isinstance(servers, list) else [servers]
        self.results: list[tuple[int, float, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(clients)
        self._futures = [self._pool.submit(self._run, targets[i % len(targets)], key) for i in range(clients)]

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


def _check_admitted(results: list[tuple[int, float, float]], rpm: int) -> int:
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}, sorted(set(statuses))
    assert 200 in statuses and 429 in statuses
    first = min(started for status, started, _ in results if status == 200)
    last = max(started + took for status, started, took in results if status == 200)
    admitted = statuses.count(200)
    allowed = _allowed(rpm, last - first)
    assert admitted <= allowed + SLACK, f"{admitted} admitted in {last - first:.1f} s; the limit allows {allowed:.0f} (+{SLACK})"
    return admitted


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
    _check_admitted(results, 60)


def test_frozen_then_thawed_redis_does_not_over_admit(gateway: Server, redis: OwnRedis) -> None:
    key = _key(gateway, rpm=60)
    load = Load(gateway, key)
    try:
        load.wait_admitted(60)
        redis.freeze()
        time.sleep(1.5)
        redis.thaw()  # with its state: what the host admitted meanwhile is added to it
        time.sleep(2.0)
    finally:
        results = load.stop()
    _check_admitted(results, 60)


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
    slow = sorted(took for _, _, took in results if took > TIMEOUT_S + 0.2)
    # Before: every worker tried the frozen Redis again each second and waited 0.5 s for it.
    assert len(slow) <= 2, f"{len(slow)} of {len(results)} requests took over {TIMEOUT_S + 0.2:g} s: {slow}"
    after = [_chat(gateway, key) for _ in range(20)]  # Redis answers again: nothing is stuck
    assert {status for status, _, _ in after} == {200}


def _wait_both_counted(redis: OwnRedis) -> None:
    """Until each instance has sent a heartbeat after both were registered: then each has read
    a count of two (edge.limits.health)."""
    client = redis_sync.Redis.from_url(redis.url)
    try:
        deadline = time.monotonic() + 15
        while client.zcard("edge:instances") < 2:
            assert time.monotonic() < deadline, "the instances never registered"
            time.sleep(0.05)
        seconds, micros = client.time()
        both = seconds * 1000 + micros // 1000
        while min(score for _, score in client.zrange("edge:instances", 0, -1, withscores=True)) <= both:
            assert time.monotonic() < deadline, "no heartbeat after both registered"
            time.sleep(0.05)
    finally:
        client.close()


def test_each_instance_gets_its_share_while_redis_is_away(mock: Mock, redis: OwnRedis, tmp_path: Path) -> None:
    """Two instances, Redis gone before the key was ever used: together they admit one limit."""
    text = gateway_config(mock.base_url, tmp_path, extra=f"keys:\n  admin: {ADMIN}\n").replace("state:\n", f"state:\n  redis: {redis.url}\n")
    path = write_config(tmp_path / "edge.yaml", text)
    servers = [Server(["serve", "--config", str(path)], cwd=str(tmp_path)) for _ in range(2)]
    try:
        key = _key(servers[0], rpm=60, workers=1)
        _wait_key(servers[1], key, workers=1)
        _wait_both_counted(redis)
        redis.kill()
        load = Load(servers, key)
        try:
            time.sleep(2.0)
        finally:
            results = load.stop()
        admitted = _check_admitted(results, 60)
        assert admitted >= 50  # each its half: conservative, not closed
    finally:
        for server in servers:
            assert server.stop() == 0
            assert "Traceback" not in server.output, server.output[-3000:]
