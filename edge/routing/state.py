"""What each route (provider + upstream model) is doing now: in-flight count, latency, cooldown.

One RouteStates per worker, owned by the Gateway. It also applies the cooldown's
``max_ejection_percent``: a route is ejected only while the other ejected routes of the model it
failed for leave room (at least one route of any model may always be ejected, as in Envoy). Latency is a peak-EWMA (Finagle's
"PeakEwma", as used by Linkerd): a slow sample raises the estimate at once, fast samples pull it
down with a time-based decay, so a route that turns slow is avoided immediately.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from edge.config import CooldownConfig

from .breaker import Breaker

__all__ = ["RouteState", "RouteStates"]

log = logging.getLogger("edge.routing")

DECAY_S = 10.0  # time constant of the latency average
INITIAL_LATENCY_S = 0.0  # unknown routes look fast, so each gets tried


class RouteState:
    __slots__ = ("name", "in_flight", "latency", "_stamp", "breaker", "max_concurrency")

    def __init__(self, name: str, cooldown: CooldownConfig, max_concurrency: int | None) -> None:
        self.name = name
        self.in_flight = 0
        self.latency = INITIAL_LATENCY_S
        self._stamp = 0.0
        self.breaker = Breaker(cooldown)
        self.max_concurrency = max_concurrency

    @property
    def full(self) -> bool:
        return self.max_concurrency is not None and self.in_flight >= self.max_concurrency

    def observe(self, seconds: float, now: float) -> None:
        if seconds > self.latency:
            self.latency = seconds
        else:
            weight = math.exp(-(now - self._stamp) / DECAY_S) if self._stamp else 0.0
            self.latency = self.latency * weight + seconds * (1.0 - weight)
        self._stamp = now

    def cost(self) -> float:
        """Lower is better: expected latency scaled by the queue it would join."""
        return self.latency * (self.in_flight + 1)


class RouteStates:
    def __init__(self, cooldown: CooldownConfig) -> None:
        self._cooldown = cooldown
        self._states: dict[str, RouteState] = {}
        self.shared: Any = None  # SharedCooldowns when state.redis is set

    def names(self) -> list[str]:
        return list(self._states)

    def succeeded(self, state: RouteState, now: float) -> None:
        """A request was answered by this route (perhaps after retries on it)."""
        state.breaker.success(now)
        if self.shared is not None:
            self.shared.outcome(state.name, True, ())

    def failed(self, state: RouteState, now: float, group: Sequence[str] = ()) -> None:
        """A request gave up on this route after retryable failures (once per request).

        ``group``: the routes of the model the request was for, the set the ejection cap is
        measured against. With Redis, the outcome and any ejection are shared with everyone.
        """
        breaker = state.breaker
        if breaker.failure(now, lambda: self._room(state.name, group)):
            until = breaker.retry_in(now)
            log.warning("cooldown: route %s ejected for %.0f s (%s)", state.name, until, breaker.last_reason)
            if self.shared is not None:
                self.shared.ejected(state.name, until, group)
        if self.shared is not None:
            self.shared.outcome(state.name, False, group)

    def _room(self, name: str, group: Sequence[str]) -> bool:
        """max_ejection_percent: may one more route of ``group`` be out of service?"""
        if len(group) < 2:
            return True
        out = sum(1 for other in group if other != name and other in self._states and self._states[other].breaker.ejected)
        return out + 1 <= max(1, int(len(group) * self._cooldown.max_ejection_percent / 100))

    def get(self, name: str, max_concurrency: int | None = None) -> RouteState:
        state = self._states.get(name)
        if state is None:
            if len(self._states) > 10_000:  # passthrough names come from clients: keep this bounded
                self._states.clear()
            state = self._states[name] = RouteState(name, self._cooldown, max_concurrency)
        return state
