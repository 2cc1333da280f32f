"""Cooldown (circuit breaking) per route, per ``routing.cooldown``.

Closed: requests flow; each retryable failure is remembered for ``window_s``. ``failures``
failures inside the window open the breaker: the route is skipped for ``for_s``. Then it is
half-open: exactly one request probes it; success closes it, failure opens it again. In-process
per worker; sharing through Redis comes with state.redis.
"""

from __future__ import annotations

from collections import deque

__all__ = ["Breaker"]


class Breaker:
    __slots__ = ("failures", "window_s", "for_s", "_recent", "_open_until", "_probing")

    def __init__(self, failures: int, window_s: float, for_s: float) -> None:
        self.failures = failures
        self.window_s = window_s
        self.for_s = for_s
        self._recent: deque[float] = deque()
        self._open_until = 0.0
        self._probing = False

    @property
    def state(self) -> str:
        if self._open_until == 0.0:
            return "closed"
        return "half_open" if self._probing else "open"

    def allow(self, now: float) -> bool:
        """May a request use this route now? In half-open, only the one probe may."""
        if self._open_until == 0.0:
            return True
        if now < self._open_until or self._probing:
            return False
        self._probing = True
        return True

    def retry_in(self, now: float) -> float:
        """Seconds until the route may be tried again (0 when it may now)."""
        return max(0.0, self._open_until - now) if self._open_until else 0.0

    def open_until(self, until: float) -> None:
        """Another instance saw this route fail: stay away until ``until`` (monotonic)."""
        if until > self._open_until and not self._probing:
            self._open_until = until
            self._recent.clear()

    def success(self) -> None:
        # Only a probe's success closes the breaker. While closed, successes do not erase
        # failures: N failures inside the window open it, however many calls succeeded between.
        # A call that started before the breaker opened proves nothing either.
        if self._probing:
            self._open_until = 0.0
            self._probing = False
            self._recent.clear()

    def failure(self, now: float) -> None:
        if self._probing or self._open_until:
            # The probe failed (or a request that started before the breaker opened): stay open.
            self._open_until = now + self.for_s
            self._probing = False
            return
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        if self.failures > 0 and len(recent) >= self.failures:
            self._open_until = now + self.for_s
            recent.clear()
