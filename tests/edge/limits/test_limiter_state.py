"""The host's table and the Redis script on their own (edge.limits.local, edge.limits.redis):
the share while Redis is away, the shared state that survives a Redis restarted empty, and the
units admitted locally that are written back once. Redis tests use a redis-server of their own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from edge.config import ConfigError, parse_config
from edge.limits.local import NONE_PENDING, LocalLimiter, Pending
from edge.limits.redis import RedisLimiter

from .redis_server import OwnRedis

NOW = 1_800_000_000.0


def _admitted(limiter: LocalLimiter, count: int, now: float, instances: int = 1, outage: bool = True, rpm: int = 60) -> int:
    return sum(bool(limiter.admit("k", rpm, None, 0, now, instances, outage)[0].allowed) for _ in range(count))  # type: ignore[union-attr]


def test_without_redis_the_table_is_the_whole_limit(tmp_path: Path) -> None:
    limiter = LocalLimiter(tmp_path / "t.bin")
    assert _admitted(limiter, 100, NOW, instances=4, outage=False) == 60  # instances only matter in an outage
    assert limiter.take("k") == NONE_PENDING


def test_an_outage_gives_the_host_its_share_and_remembers_it(tmp_path: Path) -> None:
    limiter = LocalLimiter(tmp_path / "t.bin")
    assert _admitted(limiter, 100, NOW, instances=2) == 30  # half of 60 at once
    assert _admitted(limiter, 10, NOW + 2.0, instances=2) == 1  # then 30 a minute: one per 2 s
    assert limiter.take("k") == Pending(31.0, 0.0)
    assert limiter.take("k") == NONE_PENDING  # handed over once
    limiter.give_back("k", Pending(31.0, 0.0))  # the write-back failed: keep it for the next try
    assert limiter.take("k") == Pending(31.0, 0.0)


def test_an_outage_starts_from_what_redis_last_said(tmp_path: Path) -> None:
    limiter = LocalLimiter(tmp_path / "t.bin")
    limiter.learn("k", NOW + 60.0, 0.0)  # Redis: the whole minute is used
    requests, _ = limiter.admit("k", 60, None, 0, NOW, 1, outage=True)
    assert requests is not None and not requests.allowed and requests.retry_after_s == pytest.approx(1.0)
    assert _admitted(limiter, 10, NOW + 5.0) == 5  # refills at the limit's rate, not from zero


def test_every_worker_of_the_host_shares_known_pending_and_the_instance_id(tmp_path: Path) -> None:
    first, second = LocalLimiter(tmp_path / "t.bin"), LocalLimiter(tmp_path / "t.bin")
    assert first.instance_id == second.instance_id
    first.learn("k", NOW + 50.0, 0.0)
    assert _admitted(second, 100, NOW) == 10  # 60 minus the 50 the first worker heard of
    assert first.take("k") == Pending(10.0, 0.0)
    assert second.take("k") == NONE_PENDING
    assert LocalLimiter().instance_id != first.instance_id  # a lone worker is an instance of its own


def test_tokens_pending_include_settlements(tmp_path: Path) -> None:
    limiter = LocalLimiter(tmp_path / "t.bin")
    assert limiter.admit("k", None, 1000, 100, NOW, 1, outage=True)[1].allowed  # type: ignore[union-attr]
    limiter.settle("k", 1000, -40, NOW, 1, outage=True)  # it used 60, not 100
    assert limiter.take("k") == Pending(0.0, 60.0)


@pytest.fixture()
def own_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def test_a_redis_restarted_empty_is_given_back_what_it_lost(own_redis: OwnRedis) -> None:
    async def run() -> None:
        client = aioredis.from_url(own_redis.url)
        limiter = RedisLimiter(client)
        try:
            for _ in range(5):
                assert (await limiter.admit("k", 5, None, 0))[0].allowed  # type: ignore[union-attr]
            r_known, _ = limiter.known("k")
            await client.flushall()  # everything Redis knew is gone, as after a restart
            requests, _ = await limiter.admit("k", 5, None, 0)
            assert requests is not None and not requests.allowed  # not a fresh window
            assert limiter.known("k")[0] == pytest.approx(r_known, abs=0.5)
            # Units the host admitted on its own while Redis was away are added once.
            other = RedisLimiter(client)
            assert (await other.admit("j", 5, None, 0, Pending(4.0, 0.0)))[0].remaining == 0  # type: ignore[union-attr]
            assert not (await other.admit("j", 5, None, 0))[0].allowed  # type: ignore[union-attr]
        finally:
            await client.aclose()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"redis_timeout_s": 0}, "limits.redis_timeout_s: must be positive (got 0"),
        ({"redis_retry_s": -1}, "limits.redis_retry_s: must be positive (got -1"),
        ({"instances": 0}, "limits.instances: must be at least 1 (got 0)"),
    ],
)
def test_limits_config_errors_name_the_path_and_value(limits: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"limits": limits})
    assert message in str(info.value)
