"""Rate limiting with GCRA (the generic cell rate algorithm), the arithmetic every backend shares.

A limit of ``limit`` per ``period`` seconds emits one unit every ``period / limit`` seconds and
allows a burst of the whole limit. The state is one number, the theoretical arrival time (TAT):
a request of ``cost`` units at time ``now`` is allowed when ``max(TAT, now) + cost * interval``
is at most ``now + period`` ahead. Being one number per key and limit, it fits a shared-memory
slot or a Redis hash and updates atomically under one lock or one script.

The TAT is Unix time (shared across hosts through Redis), where one float64 ulp is about 2.4e-7
s and each added interval rounds: a same-instant burst of 50 per minute ended 6e-6 s past the
limit and was granted 49. So "at most ``period`` ahead" allows a slack of ``SLACK`` of the
request's own cost (1e-4: a ten-thousandth of the request, never a whole unit), and the remaining
count rounds with the same slack. The Redis script (edge.limits.redis) uses the same rule.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["SLACK", "Verdict", "check", "settle"]

SLACK = 1e-4  # of a request's cost: what float rounding of a Unix-time TAT may add

class Verdict(NamedTuple):
    allowed: bool
    new_tat: float
    remaining: int
    reset_s: float  # until the limit is whole again
    retry_after_s: float  # until this request would be allowed (0 when it is)


def check(tat: float, now: float, limit: float, period: float, cost: float) -> Verdict:
    # Conditionals rather than max(): this runs twice per admitted request.
    interval = period / limit
    base = tat if tat > now else now
    new_tat = base + cost * interval
    ahead = new_tat - now
    slack = SLACK * cost * interval
    if ahead > period + (slack if slack > 1e-9 else 1e-9):
        remaining = math.floor((period - (base - now)) / interval + SLACK)
        return Verdict(False, tat, remaining if remaining > 0 else 0, base - now, ahead - period)
    remaining = math.floor((period - ahead) / interval + SLACK)
    return Verdict(True, new_tat, remaining if remaining > 0 else 0, ahead, 0.0)


def settle(tat: float, now: float, limit: float, period: float, delta: float) -> float:
    """Correct a TAT by ``delta`` units once the real cost is known (tokens used vs estimated)."""
    interval = period / limit
    return max(tat + delta * interval, now) if delta < 0 else max(tat, now) + delta * interval
