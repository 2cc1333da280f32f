"""The response cache in Redis: one cache for every instance (``GET`` and ``SET ... PX``).

Keys are ``<prefix><hex key>`` (``cache.prefix``, ``edge:rc:`` by default), values the encoded
entry, with the entry's TTL as Redis's own expiry. A request waits at most
``cache.redis_timeout_s`` for Redis; a call that fails or times out opens a breaker: the
requests of the next ``cache.redis_retry_s`` are served uncached without asking Redis at all,
then one request tries again. So an outage costs one timeout, not one per request, and it is
logged once when it starts (a warning) and once when Redis answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..config import redact_url

__all__ = ["RedisStore"]

log = logging.getLogger("edge.cache")


class RedisStore:
    def __init__(self, url: str, prefix: str, timeout_s: float, retry_s: float) -> None:
        import redis.asyncio as aioredis  # only when the cache is in Redis

        self._url = url
        self._client: Any = aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._prefix = prefix
        self._timeout = timeout_s
        self._retry = retry_s
        self._down_until = 0.0  # monotonic: until then, no call is made
        self._down = False

    def _usable(self) -> bool:
        return not self._down or time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry
        if not self._down:
            self._down = True
            log.warning(
                "response cache: Redis at %s is not answering (%s); serving requests uncached until it does",
                redact_url(self._url.split("?")[0]), type(exc).__name__,
            )

    def _answered(self) -> None:
        if self._down:
            self._down = False
            log.info("response cache: Redis answers again")

    async def get(self, key: str) -> bytes | None:
        if not self._usable():
            return None
        try:
            async with asyncio.timeout(self._timeout):  # not wait_for: 3.11's can swallow a cancellation
                value = await self._client.get(self._prefix + key)
        except Exception as exc:  # redis-py's own errors, OSError, the timeout
            self._failed(exc)
            return None
        self._answered()
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        if not self._usable():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.set(self._prefix + key, data, px=max(1, int(ttl_s * 1000)))
        except Exception as exc:
            self._failed(exc)
            return
        self._answered()

    async def close(self) -> None:
        await self._client.aclose()
