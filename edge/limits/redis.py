"""Rate limits shared by every instance through Redis: one atomic script, one round trip.

The script runs GCRA (edge.limits.gcra) for requests and tokens of one key with Redis's own
clock (TIME), so instances with skewed clocks agree, and first applies any token settlement the
instance has queued for that key (the real usage of earlier requests), so settling costs no
extra round trip. If Redis cannot be reached, the caller falls back to the host's limiter.
"""

from __future__ import annotations

from typing import Any

from .gcra import Verdict

__all__ = ["RedisLimiter"]

# KEYS[1] = edge:rl:<key id>; ARGV = rpm, tpm, tokens, period, settle_delta
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm, tpm, cost, period, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'r', 't')
local rtat, ttat = tonumber(state[1]) or 0, tonumber(state[2]) or 0
if tpm > 0 and delta ~= 0 then
  local iv = period / tpm
  if delta < 0 then ttat = math.max(ttat + delta * iv, now) else ttat = math.max(ttat, now) + delta * iv end
end
local function gcra(tat, limit, c)
  local iv = period / limit
  local base = math.max(tat, now)
  local new = base + c * iv
  local ahead = new - now
  if ahead > period + 1e-9 then
    return {0, tat, math.max(0, math.floor((period - (base - now)) / iv + 1e-9)), math.max(0, base - now), ahead - period}
  end
  return {1, new, math.max(0, math.floor((period - ahead) / iv + 1e-9)), ahead, 0}
end
local r = {1, rtat, -1, 0, 0}
local k = {1, ttat, -1, 0, 0}
if rpm > 0 then r = gcra(rtat, rpm, 1) end
if tpm > 0 then k = gcra(ttat, tpm, cost) end
if r[1] == 1 and k[1] == 1 then
  redis.call('HSET', KEYS[1], 'r', tostring(r[2]), 't', tostring(k[2]))
else
  redis.call('HSET', KEYS[1], 't', tostring(ttat))
end
redis.call('EXPIRE', KEYS[1], math.ceil(period * 2))
return {r[1], tostring(r[3]), tostring(r[4]), tostring(r[5]), k[1], tostring(k[3]), tostring(k[4]), tostring(k[5])}
"""


def _verdict(allowed: Any, remaining: Any, reset: Any, retry: Any) -> Verdict:
    return Verdict(bool(int(allowed)), 0.0, int(float(remaining)), float(reset), float(retry))


class RedisLimiter:
    def __init__(self, client: Any, period: float = 60.0) -> None:
        self._client = client
        self._script = client.register_script(_SCRIPT)
        self._period = period
        self._pending: dict[str, int] = {}  # key id -> token settlement not yet sent

    async def admit(self, key_id: str, rpm: int | None, tpm: int | None, tokens: int) -> tuple[Verdict | None, Verdict | None]:
        delta = self._pending.pop(key_id, 0) if tpm else 0
        try:
            out = await self._script(keys=[f"edge:rl:{key_id}"], args=[rpm or 0, tpm or 0, tokens, self._period, delta])
        except BaseException:
            if delta:
                self._pending[key_id] = self._pending.get(key_id, 0) + delta
            raise
        r_ok, r_rem, r_reset, r_retry, t_ok, t_rem, t_reset, t_retry = out
        return (
            _verdict(r_ok, r_rem, r_reset, r_retry) if rpm else None,
            _verdict(t_ok, t_rem, t_reset, t_retry) if tpm else None,
        )

    def settle(self, key_id: str, delta: int) -> None:
        """Queue a token correction; it travels with this key's next admission."""
        if delta:
            self._pending[key_id] = self._pending.get(key_id, 0) + delta
