"""The response cache in Redis, shared by two instances (issue 17); and Redis going away.

Two real gateway processes (instances A and B: one ledger, one Redis) in front of one real mock
upstream. The shared Redis at 127.0.0.1:6379 holds the entries under a prefix of this run's own
(``cache.prefix``), so nothing else there is read or touched, and the test removes its keys.
The outage test runs a redis-server of its own (tests/edge/limits/redis_server.py) and kills it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.cache.test_response_cache import calls, config, ledger_row, new_key, post, unique
from tests.edge.limits.redis_server import OwnRedis
from tests.support import Mock, Server, write_config

SHARED_REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    try:
        with socket.create_connection(SHARED_REDIS, timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def upstream() -> Iterator[Mock]:
    proc = Mock()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def pair(upstream: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Path, str]]:
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Redis is not answering on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    import redis

    prefix = f"edge:rc:test-{secrets.token_hex(6)}:"
    home = tmp_path_factory.mktemp("rcache-redis")
    extra = f'cache: {{backend: redis, redis: "redis://127.0.0.1:6379/0", prefix: "{prefix}"}}'
    path = write_config(home / "edge.yaml", config(upstream.base_url, home, extra))
    a = Server(["serve", "--config", str(path)], cwd=str(home))
    b = Server(["serve", "--config", str(path)], cwd=str(home))
    try:
        yield a, b, home, prefix
    finally:
        a.stop()
        b.stop()
        client = redis.Redis(host=SHARED_REDIS[0], port=SHARED_REDIS[1], db=0)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def test_a_hit_on_b_for_an_answer_from_a(pair: tuple[Server, Server, Path, str], upstream: Mock) -> None:
    a, b, home, prefix = pair
    messages = unique("two instances")
    before, entries = calls(upstream), _entries(prefix)
    status, headers, first = post(a, {"model": "cached", "messages": messages})
    assert status == 200 and headers["x-edge-cache"] == "miss" and calls(upstream) == before + 1
    _stored(prefix, entries)  # A stores in the background: B is asked once the entry is there
    status, headers, again = post(b, {"model": "cached", "messages": messages})
    assert status == 200 and headers["x-edge-cache"] == "hit"
    assert again == first and calls(upstream) == before + 1
    row = ledger_row(b, home, headers["x-request-id"])
    assert (row["cache_hit"], row["cost_usd"]) == (1, 0.0) and row["saved_usd"] > 0


def test_a_stream_from_a_is_replayed_intact_on_b(pair: tuple[Server, Server, Path, str], upstream: Mock) -> None:
    a, b, _, prefix = pair
    body = {"model": "cached", "messages": unique("a stream across instances"), "stream": True, "stream_options": {"include_usage": True}}
    before, entries = upstream.stats()["streams_started"], _entries(prefix)
    status, headers, first = post(a, body)
    assert status == 200 and headers["x-edge-cache"] == "miss" and first.endswith(b"data: [DONE]\n\n")
    _stored(prefix, entries)
    status, headers, again = post(b, body)
    assert status == 200 and headers["x-edge-cache"] == "hit"
    assert headers["content-type"].startswith("text/event-stream") and again == first
    assert first.count(b"data: ") >= 4 and upstream.stats()["streams_started"] == before + 1


def test_no_hit_across_two_keys(pair: tuple[Server, Server, Path, str], upstream: Mock) -> None:
    a, b, _, _ = pair
    one, two = new_key(a), new_key(a)
    messages = unique("two keys")
    assert post(a, {"model": "cached", "messages": messages}, one)[1]["x-edge-cache"] == "miss"
    _until_hit(lambda: post(b, {"model": "cached", "messages": messages}, one))
    before = calls(upstream)
    status, headers, _ = post(b, {"model": "cached", "messages": messages}, two)
    assert status == 200 and headers["x-edge-cache"] == "miss" and calls(upstream) == before + 1


def _entries(prefix: str) -> int:
    """How many keys this run's prefix holds in the shared Redis."""
    import redis

    client = redis.Redis(host=SHARED_REDIS[0], port=SHARED_REDIS[1], db=0)
    try:
        return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def _stored(prefix: str, before: int) -> None:
    """Wait for the first instance's entry to land (it is written after the answer). Asking the
    second instance earlier would be a miss that answers upstream and stores its own entry, and
    the hit after it would replay that one, not the first instance's."""
    from tests.support import wait_for

    wait_for(lambda: _entries(prefix) > before, timeout=5.0, interval=0.02, what="the first instance's entry in Redis")


def _until_hit(send: object) -> tuple[int, dict[str, str], bytes]:
    """Send until the answer is a hit (the first instance's write lands in the background)."""
    from tests.support import wait_for

    assert callable(send)
    seen: list[tuple[int, dict[str, str], bytes]] = []

    def hit() -> bool:
        seen.append(send())
        return seen[-1][1].get("x-edge-cache") == "hit"

    # A miss here would be answered upstream and stored again: one retry is all it ever takes.
    wait_for(hit, timeout=5.0, interval=0.05, what="a hit on the second instance")
    status, headers, data = seen[-1]
    assert status == 200
    return status, headers, data


def test_redis_down_serves_uncached_with_one_warning(upstream: Mock, tmp_path: Path) -> None:
    own = OwnRedis(tmp_path)
    extra = f'cache: {{backend: redis, redis: "{own.url}", redis_timeout_s: 0.2, redis_retry_s: 0.5}}'
    server = Server(["serve", "--config", str(write_config(tmp_path / "edge.yaml", config(upstream.base_url, tmp_path, extra)))], cwd=str(tmp_path))
    try:
        messages = unique("redis outage")
        assert post(server, {"model": "cached", "messages": messages})[1]["x-edge-cache"] == "miss"
        _until_hit(lambda: post(server, {"model": "cached", "messages": messages}))
        own.kill()
        before = calls(upstream)
        for n in range(6):  # a minute would do no better: one warning per outage
            status, headers, data = post(server, {"model": "cached", "messages": messages})
            assert status == 200 and headers["x-edge-cache"] == "miss", data
            assert calls(upstream) == before + n + 1
        warnings = [line for line in server.output.splitlines() if re.search(r"WARNING .*response cache: Redis .*not answering", line)]
        assert len(warnings) == 1, server.output
        assert "serving requests uncached" in warnings[0]
        own.start()  # back, empty: the next answers are stored and hit again

        def stored_again() -> bool:
            return post(server, {"model": "cached", "messages": messages})[1]["x-edge-cache"] == "hit"

        from tests.support import wait_for

        wait_for(stored_again, timeout=10.0, interval=0.1, what="hits once Redis is back")
        assert len([line for line in server.output.splitlines() if "response cache: Redis" in line and "WARNING" in line]) == 1
    finally:
        assert server.stop() == 0
        own.stop()

