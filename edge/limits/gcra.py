"""Rate limiting with GCRA (the generic cell rate algorithm), the arithmetic every backend shares.

A limit of ``limit`` per ``period`` seconds emits one unit every ``period / limit`` seconds and
allows a burst of the whole limit. The state is one number, the theoretical arrival time (TAT):
a request of ``cost`` units at time ``now`` is allowed when ``max(TAT, now) + cost * interval``
is at most ``now + period`` ahead. Being one number per key and limit, it fits a shared-memory
slot or a Redis hash and updates atomically under one lock or one script.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["Verdict", "check", "settle"]


class Verdict(NamedTuple):
    allowed: bool
    new_tat: float
    remaining: int
    reset_s: float  # until the limit is whole again
    retry_after_s: float  # until this request would be allowed (0 when it is)


def check(tat: float, now: float, limit: float, period: float, cost: float) -> Verdict:
    interval = period / limit
    base = max(tat, now)
    new_tat = base + cost * interval
    ahead = new_tat - now
    if ahead > period + 1e-9:
        retry = ahead - period
        remaining = max(0, math.floor((period - (base - now)) / interval + 1e-9))
        return Verdict(False, tat, remaining, max(0.0, base - now), retry)
    remaining = max(0, math.floor((period - ahead) / interval + 1e-9))
    return Verdict(True, new_tat, remaining, ahead, 0.0)


def settle(tat: float, now: float, limit: float, period: float, delta: float) -> float:
    """Correct a TAT by ``delta`` units once the real cost is known (tokens used vs estimated)."""
    interval = period / limit
    return max(tat + delta * interval, now) if delta < 0 else max(tat, now) + delta * interval
