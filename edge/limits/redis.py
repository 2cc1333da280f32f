"""Rate limits shared by every instance through Redis: one atomic script, one round trip.

The script runs GCRA (edge.limits.gcra) for requests and tokens of one key with Redis's own
clock (TIME), so instances with skewed clocks agree, and first applies any token settlement the
instance has queued for that key (the real usage of earlier requests), so settling costs no
extra round trip. It answers with the key's TATs after the call, which this worker keeps
(``known``): the host's table (edge.limits.local) starts from them if Redis goes away, and they
travel with the key's next admission, which restores a key that Redis lost (restarted empty,
flushed) instead of granting a fresh window. The units the host admitted on its own while Redis
was away travel too, and are added once. If Redis cannot be reached, the caller falls back to
the host's table.
"""

from __future__ import annotations

import time
from typing import Any

from .gcra import Verdict
from .local import NONE_PENDING, Pending

__all__ = ["SCRIPT", "RedisLimiter"]

_MAX_KNOWN = 100_000  # keys whose shared state this worker remembers
_UNKNOWN = (0.0, 0.0)

# KEYS[1] = edge:rl:<key id>; ARGV = rpm, tpm, tokens, period, settle_delta,
# requests TAT the host knew (s ahead of now, 0: none), tokens TAT the host knew, requests pending
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm, tpm, cost, period, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local r_known, t_known, r_pending = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local state = redis.call('HMGET', KEYS[1], 'r', 't')
local rtat, ttat = tonumber(state[1]) or 0, tonumber(state[2]) or 0
-- A requests TAT only moves forward, so the larger of the host's view and Redis's is safe (it
-- restores what a restarted Redis lost); a tokens TAT moves back with settlements, so the
-- host's view is used only when Redis has none.
if rpm > 0 and r_known > 0 then rtat = math.max(rtat, now + r_known) end
if tpm > 0 and t_known > 0 and not state[2] then ttat = now + t_known end
if rpm > 0 and r_pending > 0 then rtat = math.max(rtat, now) + r_pending * period / rpm end
if tpm > 0 and delta ~= 0 then
  local iv = period / tpm
  if delta < 0 then ttat = math.max(ttat + delta * iv, now) else ttat = math.max(ttat, now) + delta * iv end
end
local function gcra(tat, limit, c)
  local iv = period / limit
  local base = math.max(tat, now)
  local new = base + c * iv
  local ahead = new - now
  -- the slack of edge.limits.gcra (SLACK, 1e-4 of the cost): float rounding of a Unix-time TAT
  if ahead > period + math.max(1e-9, 1e-4 * c * iv) then
    return {0, tat, math.max(0, math.floor((period - (base - now)) / iv + 1e-4)), math.max(0, base - now), ahead - period}
  end
  return {1, new, math.max(0, math.floor((period - ahead) / iv + 1e-4)), ahead, 0}
end
local r = {1, rtat, -1, 0, 0}
local k = {1, ttat, -1, 0, 0}
if rpm > 0 then r = gcra(rtat, rpm, 1) end
if tpm > 0 then k = gcra(ttat, tpm, cost) end
if r[1] == 1 and k[1] == 1 then
  rtat, ttat = r[2], k[2]
end
redis.call('HSET', KEYS[1], 'r', tostring(rtat), 't', tostring(ttat))
redis.call('EXPIRE', KEYS[1], math.ceil(period * 2))
return {r[1], tostring(r[3]), tostring(r[4]), tostring(r[5]), k[1], tostring(k[3]), tostring(k[4]), tostring(k[5]),
        tostring(math.max(0, rtat - now)), tostring(math.max(0, ttat - now))}
"""


def _verdict(allowed: Any, remaining: Any, reset: Any, retry: Any) -> Verdict:
    return Verdict(bool(int(allowed)), 0.0, int(float(remaining)), float(reset), float(retry))


class RedisLimiter:
    def __init__(self, client: Any, period: float = 60.0) -> None:
        self._client = client
        self._script = client.register_script(SCRIPT)
        self._period = period
        self._pending: dict[str, int] = {}  # key id -> token settlement not yet sent
        self._known: dict[str, tuple[float, float]] = {}  # key id -> (requests, tokens) TAT, absolute

    def known(self, key_id: str) -> tuple[float, float]:
        """The key's requests and tokens TATs as Redis last reported them (0: never)."""
        return self._known.get(key_id, _UNKNOWN)

    async def admit(self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, pending: Pending = NONE_PENDING) -> tuple[Verdict | None, Verdict | None]:
        """One admission. ``pending``: what the host admitted for the key while Redis was away."""
        delta = self._pending.pop(key_id, 0) if tpm else 0
        now = time.time()
        r_tat, t_tat = self._known.get(key_id, _UNKNOWN)
        cap = 2 * self._period  # a stale view must not hold a key off for long
        r_known = min(cap, max(0.0, r_tat - now)) if rpm else 0.0
        t_known = min(cap, max(0.0, t_tat - now)) if tpm else 0.0
        try:
            out = await self._script(
                keys=[f"edge:rl:{key_id}"],
                args=[rpm or 0, tpm or 0, tokens, self._period, delta + (pending.tokens if tpm else 0), r_known, t_known, pending.requests if rpm else 0],
            )
        except BaseException:
            if delta:
                self._pending[key_id] = self._pending.get(key_id, 0) + delta
            raise
        r_ok, r_rem, r_reset, r_retry, t_ok, t_rem, t_reset, t_retry, r_ahead, t_ahead = out
        now = time.time()
        if len(self._known) >= _MAX_KNOWN:
            self._known.clear()
        self._known[key_id] = (now + float(r_ahead), now + float(t_ahead))
        return (
            _verdict(r_ok, r_rem, r_reset, r_retry) if rpm else None,
            _verdict(t_ok, t_rem, t_reset, t_retry) if tpm else None,
        )

    def settle(self, key_id: str, delta: int) -> None:
        """Queue a token correction; it travels with this key's next admission."""
        if delta:
            self._pending[key_id] = self._pending.get(key_id, 0) + delta
