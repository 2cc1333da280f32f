"""Admission before any upstream call: a key's rate limits and budgets; settling after.

Rate limits (requests and tokens per minute, per key; ``limits.default`` for keys that set
none) use Redis when ``state.redis`` is set, exact across every instance, and otherwise the
host's shared table (edge.limits.local), exact across its workers. A Redis call on the request
path waits at most ``limits.redis_timeout_s``; one that fails opens a breaker
(edge.limits.health) and the host's table answers, with no wait on Redis, until a background
probe finds it again. Meanwhile a key gets this host's share of its limit (limit / instances),
starting from what Redis last said of the key, and what the host admitted is written back to
Redis with the key's next admission there, so neither an outage nor a Redis restarted empty
hands out a fresh window. Prompt tokens are estimated before the call from the body's size
(O(1) in its text; the closer, per-character count only decides a refusal for size) and
settled with the real usage after. Over a limit: 429 with Retry-After and OpenAI's
x-ratelimit-* headers. Budgets: edge.limits.budgets.

``admit_now`` admits without an await whenever nothing remote is asked (the host's table
and budget spend this worker holds): no coroutine on the common path. No lock is held
across an await: the host's table takes its flock inside one synchronous call.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from edge.fastpath import tokens as token_math

from .auth import Principal
from .config import Config
from .errors import InsufficientQuota, RateLimited
from .limits.budgets import Budgets
from .limits.gcra import Verdict
from .limits.local import LocalLimiter
from .store import Store

if TYPE_CHECKING:  # imported at start() only when state.redis is set
    from .limits.health import RedisHealth
    from .limits.redis import RedisLimiter

__all__ = ["Admission", "charge", "count_tokens", "estimate_tokens", "go_duration"]


LARGE_BODY = 256 * 1024


def go_duration(seconds: float) -> str:
    """OpenAI's reset format: Go durations such as 12ms, 1.5s, 6m0s."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes >= 1:
        return f"{int(minutes)}m{rest:.0f}s"
    return f"{rest:.3g}s"


def estimate_tokens(messages: Any, body_size: int) -> int:
    """Admission's estimate of the prompt tokens: the body's bytes, O(1) in its text (media
    parts at flat costs; edge.fastpath.tokens.estimate_body_tokens). Settling corrects it."""
    return token_math.estimate_body_tokens(messages, body_size)


def count_tokens(messages: Any, body_size: int) -> int:
    """The closer count, character by character (O(n)): the calibrated estimate per message,
    or bytes for very large bodies."""
    if body_size > LARGE_BODY or not isinstance(messages, list):
        return token_math.estimate_tokens_from_bytes(body_size)
    return token_math.estimate_prompt_tokens(messages)


def charge(messages: Any, body_size: int, tpm: int | None) -> int:
    """What admission takes from a key's token limit: the O(1) estimate, unless that alone
    would refuse the request outright (more than the key's limit; the estimate over-counts
    most prompts), when the closer count decides. 0 for keys without a token limit."""
    if not tpm:
        return 0
    tokens = estimate_tokens(messages, body_size)
    return count_tokens(messages, body_size) if tokens > tpm else tokens


def _headers(rpm: int | None, tpm: int | None, requests: Verdict | None, tokens: Verdict | None) -> dict[str, str]:
    if rpm and requests is not None and tpm and tokens is not None:  # both limits: one literal
        return {
            "x-ratelimit-limit-requests": str(rpm),
            "x-ratelimit-remaining-requests": str(requests.remaining),
            "x-ratelimit-reset-requests": go_duration(requests.reset_s),
            "x-ratelimit-limit-tokens": str(tpm),
            "x-ratelimit-remaining-tokens": str(tokens.remaining),
            "x-ratelimit-reset-tokens": go_duration(tokens.reset_s),
        }
    headers: dict[str, str] = {}
    if rpm and requests is not None:
        headers["x-ratelimit-limit-requests"] = str(rpm)
        headers["x-ratelimit-remaining-requests"] = str(requests.remaining)
        headers["x-ratelimit-reset-requests"] = go_duration(requests.reset_s)
    if tpm and tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(tpm)
        headers["x-ratelimit-remaining-tokens"] = str(tokens.remaining)
        headers["x-ratelimit-reset-tokens"] = go_duration(tokens.reset_s)
    return headers


class Admission:
    def __init__(self, config: Config, store: Store, shared_dir: Path | None = None) -> None:
        self._local = LocalLimiter(shared_dir / "ratelimits.bin" if shared_dir else None)
        self._redis_url = config.state.redis
        self._limits = config.limits
        self._redis: RedisLimiter | None = None
        self._health: RedisHealth | None = None  # both set when state.redis is
        self._client: Any = None
        self.budgets = Budgets(config.budgets, store, config.limits.budget_refresh_s)
        self.on_limited: Any = None  # metrics hook: callable(kind)

    async def start(self) -> None:
        if self._redis_url:
            import redis.asyncio as aioredis

            from .limits.health import RedisHealth
            from .limits.redis import SCRIPT, RedisLimiter

            self._client = aioredis.from_url(self._redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            self._redis = RedisLimiter(self._client)
            limits = self._limits
            self._health = RedisHealth(self._client, self._local.instance_id, limits.redis_timeout_s, limits.redis_retry_s, limits.instances, (SCRIPT,))
            self._health.start()
        await self.budgets.start()

    @property
    def redis_client(self) -> Any:
        """The Redis client when state.redis is set (shared by limits and cooldowns), else None."""
        return self._client

    async def close(self) -> None:
        await self.budgets.close()
        if self._health is not None:
            await self._health.close()
        if self._client is not None:
            await self._client.aclose()
        self._local.close()

    def _limit_now(self, key_id: str, rpm: int | None, tpm: int | None, cost: int, now: float) -> tuple[Verdict | None, Verdict | None] | None:
        """The host's table answers (no Redis, or Redis is down): no await. None: ask Redis."""
        health = self._health
        if health is None:
            return self._local.admit(key_id, rpm, tpm, cost, now)
        if health.up:
            return None
        return self._local.admit(key_id, rpm, tpm, cost, now, health.instances, outage=True)

    async def _limit(self, key_id: str, rpm: int | None, tpm: int | None, cost: int) -> tuple[Verdict | None, Verdict | None]:
        verdicts = self._limit_now(key_id, rpm, tpm, cost, time.time())
        if verdicts is not None:
            return verdicts
        health, redis = self._health, self._redis
        assert health is not None and redis is not None  # _limit_now answers otherwise
        pending = self._local.take(key_id)
        try:
            async with asyncio.timeout(health.timeout_s):
                verdicts = await redis.admit(key_id, rpm, tpm, cost, pending)
        except Exception as exc:  # redis-py raises its own errors, OSErrors; and the timeout
            self._local.give_back(key_id, pending)
            health.failed(exc)
        except BaseException:
            self._local.give_back(key_id, pending)
            raise
        else:
            # Every worker of the host starts from this if Redis goes away (edge.limits.local).
            self._local.learn(key_id, *redis.known(key_id))
            return verdicts
        return self._local.admit(key_id, rpm, tpm, cost, time.time(), health.instances, outage=True)

    def admit_now(self, principal: Principal, tokens: int, tags: dict[str, str] | None) -> dict[str, str] | None:
        """``admit`` without an await, when nothing remote is needed (no Redis, or Redis is
        down, and every budget's spend is known here): raise 429, or the headers to send.
        None, having taken nothing, when ``admit`` must run: it awaits the store or Redis."""
        now = time.time()
        if (self.budgets.active or principal.budget_usd is not None) and not self._budgets_now(principal, tags, now):
            return None
        rpm, tpm = principal.rpm, principal.tpm
        if principal.key_id is None or principal.is_admin or not (rpm or tpm):
            return {}
        self._fits(principal, tokens)
        verdicts = self._limit_now(principal.key_id, rpm, tpm, tokens, now)
        return None if verdicts is None else self._answer(principal, *verdicts)

    async def admit(self, principal: Principal, tokens: int, tags: dict[str, str] | None) -> dict[str, str]:
        """Raise 429 when a limit or budget says no; otherwise the x-ratelimit-* headers to send."""
        if self.budgets.active or principal.budget_usd is not None:
            try:
                await self.budgets.check(time.time(), principal.key_id, principal.budget_usd, principal.period, tags, principal.name)
            except InsufficientQuota:
                if self.on_limited:
                    self.on_limited("budget")
                raise
        rpm, tpm = principal.rpm, principal.tpm
        if principal.key_id is None or principal.is_admin or not (rpm or tpm):
            return {}
        self._fits(principal, tokens)
        return self._answer(principal, *await self._limit(principal.key_id, rpm, tpm, tokens))

    def _budgets_now(self, principal: Principal, tags: dict[str, str] | None, now: float) -> bool:
        try:
            return self.budgets.check_now(now, principal.key_id, principal.budget_usd, principal.period, tags, principal.name)
        except InsufficientQuota:
            if self.on_limited:
                self.on_limited("budget")
            raise

    def _fits(self, principal: Principal, tokens: int) -> None:
        """One request needing more than the whole token limit is refused for good (no retry)."""
        tpm = principal.tpm
        if tpm and tokens > tpm:
            if self.on_limited:
                self.on_limited("tokens")
            raise RateLimited(f"This request needs about {tokens} tokens, more than the key's limit of {tpm} tokens per minute.", code="tokens_exceed_limit", extra_headers={"x-should-retry": "false"})

    def _answer(self, principal: Principal, requests: Verdict | None, tokens: Verdict | None) -> dict[str, str]:
        rpm, tpm = principal.rpm, principal.tpm
        headers = _headers(rpm, tpm, requests, tokens)
        if requests is not None and not requests.allowed:
            self._refuse(principal, "requests", rpm, requests, headers)
        if tokens is not None and not tokens.allowed:
            self._refuse(principal, "tokens", tpm, tokens, headers)
        return headers

    def _refuse(self, principal: Principal, kind: str, limit: int | None, verdict: Verdict, headers: dict[str, str]) -> NoReturn:
        if self.on_limited:
            self.on_limited(kind)
        raise RateLimited(
            f"Rate limit reached for key '{principal.name}': {limit} {kind} per minute. Please try again in {go_duration(verdict.retry_after_s)}.",
            retry_after=verdict.retry_after_s,
            extra_headers=headers,
        )

    def settle(self, principal: Principal, estimated: int, actual: int | None, cost: float | None, tags: dict[str, str] | None) -> None:
        now = time.time()
        if actual is not None and principal.tpm and principal.key_id is not None and not principal.is_admin:
            delta = actual - estimated
            health, redis = self._health, self._redis
            if health is None or redis is None:
                self._local.settle(principal.key_id, principal.tpm, delta, now)
            elif health.up:
                redis.settle(principal.key_id, delta)
            else:
                self._local.settle(principal.key_id, principal.tpm, delta, now, health.instances, outage=True)
        if cost:
            self.budgets.add(now, cost, principal.key_id, principal.budget_usd, principal.period, tags, principal.name)
