"""Retry timing and the retry budget.

Backoff is exponential with full jitter (AWS Architecture Blog, "Exponential Backoff And
Jitter"): attempt n waits uniform(0, min(cap, base * 2**n)). An upstream's Retry-After wins when
it is longer, capped so one slow hint cannot hold a request forever. The budget keeps retries to
at most ``ratio`` of the requests over a sliding window (Finagle/Envoy-style retry budgets), with a
small floor so a quiet gateway can still retry: an outage cannot become a retry storm.
"""

from __future__ import annotations

import random

__all__ = ["RetryBudget", "backoff_delay"]

BASE_S = 0.1
CAP_S = 5.0
MAX_RETRY_AFTER_S = 30.0


def backoff_delay(retry: int, rng: random.Random, retry_after: float | None = None, honor_retry_after: bool = True) -> float:
    """Seconds to wait before retry number ``retry`` (0-based)."""
    delay = rng.uniform(0.0, min(CAP_S, BASE_S * (2**retry)))
    if honor_retry_after and retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


class RetryBudget:
    """Retries may add at most ``ratio`` to the requests seen in the last ``window_s`` seconds.

    Counts live in one-second buckets, so recording a request is two integer updates.
    """

    __slots__ = ("ratio", "min_retries", "_buckets")

    def __init__(self, ratio: float = 0.2, window_s: int = 10, min_retries: int = 10) -> None:
        self.ratio = ratio
        self.min_retries = min_retries
        # [second, requests, retries] per bucket; a bucket is reused once its second is stale.
        self._buckets = [[-1, 0, 0] for _ in range(max(1, window_s))]

    def _bucket(self, now: float) -> list[int]:
        second = int(now)
        bucket = self._buckets[second % len(self._buckets)]
        if bucket[0] != second:
            bucket[0], bucket[1], bucket[2] = second, 0, 0
        return bucket

    def request(self, now: float) -> None:
        self._bucket(now)[1] += 1

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget, or say there is none left."""
        second, span = int(now), len(self._buckets)
        live = [b for b in self._buckets if 0 <= second - b[0] < span]
        requests = sum(b[1] for b in live)
        retries = sum(b[2] for b in live)
        if retries >= max(self.min_retries, int(self.ratio * requests)):
            return False
        self._bucket(now)[2] += 1
        return True
