"""Concurrency caps: requests in flight per worker, in total and per key.

A request over ``server.max_concurrent`` gets 503 (code ``server_busy``), one over
``server.max_concurrent_per_key`` gets 429 (code ``concurrency_limit_exceeded``); both carry
Retry-After, and neither reaches auth, the body or an upstream. The key is the Authorization
header's digest, counted before authentication so that a flood of bad keys is capped like any
other caller; entries leave the table when their count drops to zero, so it holds at most
``max_concurrent`` entries. Counts are per worker process (each worker has its own event loop).
"""

from __future__ import annotations

import hashlib

from .errors import RateLimited, ServiceUnavailable

__all__ = ["ConcurrencyCaps"]


class ConcurrencyCaps:
    def __init__(self, total: int, per_key: int, retry_after_s: float = 1.0) -> None:
        self.total = total
        self.per_key = per_key
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._by_key: dict[bytes, int] = {}

    @staticmethod
    def key_of(authorization: str | None) -> bytes:
        return hashlib.blake2b((authorization or "").encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def acquire(self, key: bytes) -> None:
        """Count one request in; raises (counting nothing) when a cap is full (the key's first)."""
        held = self._by_key.get(key, 0)
        if self.per_key > 0 and held >= self.per_key:
            raise RateLimited(
                f"This key has {held} requests in flight, the limit (server.max_concurrent_per_key); retry when one finishes.",
                code="concurrency_limit_exceeded",
                retry_after=self.retry_after_s,
            )
        if self.total > 0 and self.in_flight >= self.total:
            raise ServiceUnavailable(
                f"The gateway is at its limit of {self.total} concurrent requests (server.max_concurrent); retry shortly.",
                code="server_busy",
                retry_after=self.retry_after_s,
            )
        self.in_flight += 1
        self._by_key[key] = held + 1

    def release(self, key: bytes) -> None:
        self.in_flight -= 1
        left = self._by_key.get(key, 1) - 1
        if left > 0:
            self._by_key[key] = left
        else:
            self._by_key.pop(key, None)
