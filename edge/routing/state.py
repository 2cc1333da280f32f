"""What each route (provider + upstream model) is doing now: in-flight count, latency, cooldown.

One RouteStates per worker, owned by the Gateway. Latency is a peak-EWMA (Finagle's
"PeakEwma", as used by Linkerd): a slow sample raises the estimate at once, fast samples pull it
down with a time-based decay, so a route that turns slow is avoided immediately.
"""

from __future__ import annotations

import math
from typing import Any

from edge.config import CooldownConfig

from .breaker import Breaker

__all__ = ["RouteState", "RouteStates"]

DECAY_S = 10.0  # time constant of the latency average
INITIAL_LATENCY_S = 0.0  # unknown routes look fast, so each gets tried


class RouteState:
    __slots__ = ("name", "in_flight", "latency", "_stamp", "breaker", "max_concurrency")

    def __init__(self, name: str, cooldown: CooldownConfig, max_concurrency: int | None) -> None:
        self.name = name
        self.in_flight = 0
        self.latency = INITIAL_LATENCY_S
        self._stamp = 0.0
        self.breaker = Breaker(cooldown.failures, cooldown.window_s, cooldown.for_s)
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

    def failed(self, state: RouteState, now: float) -> None:
        """A request gave this route a retryable failure: count it here and, with Redis, everywhere."""
        state.breaker.failure(now)
        if self.shared is not None:
            self.shared.failure(state.name)

    def get(self, name: str, max_concurrency: int | None = None) -> RouteState:
        state = self._states.get(name)
        if state is None:
            if len(self._states) > 10_000:  # passthrough names come from clients: keep this bounded
                self._states.clear()
            state = self._states[name] = RouteState(name, self._cooldown, max_concurrency)
        return state
