"""Cooldown per route: outlier detection after Envoy's (``routing.cooldown``).

Envoy's outlier detection (config.cluster.v3.OutlierDetection) ejects a host on consecutive
5xx / gateway failures, or on a failure percentage over an interval once the host has had a
minimum request volume; an ejection lasts ``base_ejection_time`` times the number of times the
host was ejected (capped by ``max_ejection_time``), and no more than ``max_ejection_percent`` of
a cluster is ejected at once (always at least one host). Here a route is the host and a model's
routes are the cluster; the cap is applied by the caller (edge.routing.state), which knows them.

What one outcome is: a request on a route, counted when the request leaves the route. A request
whose attempts on the route all failed with a ``routing.retry_on`` condition is one failure,
however many retries it made; a request that a retry on the same route recovered is a success
(so a stale keep-alive connection that the retry replaced never counts). A route is ejected on
``consecutive_failures`` failures in a row, or when at least ``failure_percent`` of its outcomes
in the last ``window_s`` failed once there were ``min_requests`` of them. When its ejection ends
it is half-open: exactly one request probes it; success restores it, failure ejects it again
for longer. Each ``base_ejection_s`` the route stays in service forgives one past ejection.
In-process per worker; edge.routing.shared shares ejections and failure rates through Redis.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import CooldownConfig

__all__ = ["Breaker"]

_BUCKETS = 10  # the failure-rate window is kept in this many slices
_NEVER = -(1 << 62)  # the slice number of a bucket that holds nothing


class Breaker:
    __slots__ = (
        "_config", "_width", "_stamps", "_ok", "_failed", "consecutive", "ejections",
        "_open_until", "_probing", "_probe_at", "_restored_at", "last_reason",
    )

    def __init__(self, config: CooldownConfig) -> None:
        self._config = config
        self._width = config.window_s / _BUCKETS
        # One slice per bucket: the slice number it holds, successes and failures in it.
        self._stamps = [_NEVER] * _BUCKETS
        self._ok = [0] * _BUCKETS
        self._failed = [0] * _BUCKETS
        self.consecutive = 0
        self.ejections = 0  # ejections in a row (forgiven one per base_ejection_s in service)
        self._open_until = 0.0
        self._probing = False
        self._probe_at = 0.0
        self._restored_at = 0.0
        self.last_reason = ""

    @property
    def state(self) -> str:
        if self._open_until == 0.0:
            return "closed"
        return "half_open" if self._probing else "open"

    @property
    def ejected(self) -> bool:
        """Out of service (open or half-open): what the max_ejection_percent cap counts."""
        return self._open_until != 0.0

    def allow(self, now: float) -> bool:
        """May a request use this route now? In half-open, only the one probe may."""
        if self._open_until == 0.0:
            return True
        if now < self._open_until:
            return False
        # A probe whose request vanished (client gone, cancelled) reports nothing: after a
        # base ejection time without a verdict another request may probe.
        if self._probing and now - self._probe_at < self._config.base_ejection_s:
            return False
        self._probing = True
        self._probe_at = now
        return True

    def retry_in(self, now: float) -> float:
        """Seconds until the route may be tried again (0 when it may now)."""
        return max(0.0, self._open_until - now) if self._open_until else 0.0

    def opened_at(self) -> float:
        """When the current cooldown started (monotonic; 0.0 when closed): panic routing
        (edge.routing.execute) sends to the route that has cooled longest."""
        if not self._open_until:
            return 0.0
        # The ejection's length follows from the ejections in a row (one, for an ejection
        # another worker or instance made).
        return self._open_until - self.ejection_s(max(1, self.ejections))

    def open_until(self, until: float) -> None:
        """Another worker or instance ejected this route: stay away until ``until`` (monotonic)."""
        if until > self._open_until and not self._probing:
            self._open_until = until
            self._reset_counts()

    def withdraw(self) -> None:
        """The ejection this worker made is refused by the shared cap: back in service."""
        if self._open_until and not self._probing:
            self._open_until = 0.0
            self.ejections = max(0, self.ejections - 1)

    def success(self, now: float) -> None:
        if self._open_until:
            # Only the probe's success restores the route: a request that started before the
            # ejection proves nothing about the route now.
            if self._probing:
                self._open_until = 0.0
                self._probing = False
                self._restored_at = now
            return
        self.consecutive = 0
        self._slice(now)
        self._ok[int(now / self._width) % _BUCKETS] += 1

    def failure(self, now: float, may_eject: Callable[[], bool] | None = None) -> bool:
        """Count one failed request; True when the route was ejected by it.

        ``may_eject`` is asked before an ejection (the max_ejection_percent cap): when it says no
        the route stays in service, as Envoy leaves a host in once the cap is reached.
        """
        if self._open_until:
            if not self._probing:
                return False  # started before the ejection: already out, nothing new
            reason = "the probe failed"
        else:
            self.consecutive += 1
            self._slice(now)
            self._failed[int(now / self._width) % _BUCKETS] += 1
            reason = self._outlier(now)
            if not reason:
                return False
        if may_eject is not None and not may_eject():
            self._open_until, self._probing = 0.0, False  # at the cap: back in service
            return False
        self.last_reason = reason
        self._eject(now)
        return True

    def _outlier(self, now: float) -> str:
        config = self._config
        if config.consecutive_failures and self.consecutive >= config.consecutive_failures:
            return f"{self.consecutive} consecutive failures"
        if config.failure_percent:
            ok, failed = self.window(now)
            total = ok + failed
            if total >= config.min_requests and failed * 100 >= config.failure_percent * total:
                return f"{failed} of {total} requests failed in {config.window_s:g} s"
        return ""

    def window(self, now: float) -> tuple[int, int]:
        """Successes and failures of the last ``window_s``."""
        current = int(now / self._width)
        ok = failed = 0
        for i in range(_BUCKETS):
            if 0 <= current - self._stamps[i] < _BUCKETS:
                ok += self._ok[i]
                failed += self._failed[i]
        return ok, failed

    def _slice(self, now: float) -> None:
        current = int(now / self._width)
        i = current % _BUCKETS
        if self._stamps[i] != current:
            self._stamps[i], self._ok[i], self._failed[i] = current, 0, 0

    def _eject(self, now: float) -> None:
        config = self._config
        if self._restored_at:
            forgiven = int((now - self._restored_at) / config.base_ejection_s)
            self.ejections = max(0, self.ejections - forgiven)
            self._restored_at = 0.0
        self.ejections += 1
        self._open_until = now + self.ejection_s(self.ejections)
        self._probing = False
        self._reset_counts()

    def ejection_s(self, ejections: int) -> float:
        config = self._config
        return min(config.base_ejection_s * ejections, max(config.base_ejection_s, config.max_ejection_s))

    def _reset_counts(self) -> None:
        self.consecutive = 0
        self._stamps = [_NEVER] * _BUCKETS
