"""The contract every scenario module follows, and the shape of one measurement.

A scenario is data, not code: which path to POST, the body (from the deterministic generator),
whether the answer streams and how many chunks it carries. The runner sends exactly the same bytes
to every system, so the systems differ only in what they do with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Phase", "Scenario", "percentile"]


@dataclass(frozen=True)
class Scenario:
    """One kind of request. ``body`` is the exact JSON sent; ``chunks`` the content deltas of a stream."""

    name: str
    title: str
    path: str
    body: bytes
    stream: bool = False
    chunks: int = 0  # content chunks the mock sends (the SSE events also carry role, finish, usage, [DONE])
    paced: bool = False  # 1 ms between chunks, as a model emits tokens
    # A scenario that cannot run yet (its feature has not landed) says why; the runner skips it.
    pending: str | None = None
    # "http" (POST the body to path) or "grpc" (path is the full method, body the serialized
    # request; only systems that speak gRPC run it).
    protocol: str = "http"
    # The systems that can serve it (None: every system of its protocol). The peers left out
    # (direct, floor, litellm) get a "not applicable" row saying why, instead of a figure that
    # would compare different work.
    systems: tuple[str, ...] | None = None
    not_applicable: str | None = None
    # What the report puts it next to (a scenario measured on the same system), e.g. chat.
    baseline: str | None = None
    # Read the gateway's own account of each phase from its ledger afterwards (attempts per
    # request, share answered by a fallback, errors): the resilience scenarios.
    ledger: bool = False


@dataclass
class Phase:
    """One load phase: a system, a scenario, a concurrency, and what was measured."""

    system: str
    scenario: str
    connections: int
    duration_s: float = 0.0
    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_us: float = 0.0
    p90_us: float = 0.0
    p99_us: float = 0.0
    cpu_s: float = 0.0
    cpu_us_per_request: float | None = None
    upstream_cpu_us_per_request: float | None = None  # the mock's CPU, to show both sides did the same work
    events_per_stream: float | None = None  # SSE events one stream carries, counted on a probe (gRPC: messages, mean over the phase)
    cpu_us_per_chunk: float | None = None
    rss_worker_mb: float = 0.0  # the largest worker after the phase
    rss_total_mb: float = 0.0
    workers: int = 0
    loadgen: str = ""
    # Calls that reached the mock upstream (its GET /mock/stats "requests", after minus before)
    # over the requests served: 1.0 without retries or fallbacks.
    upstream_calls_per_request: float | None = None
    # From the gateway's ledger (scenarios with ``ledger``): rows written for the phase, their
    # mean ``attempts``, the share answered by another upstream model than the first route's
    # (a fallback), and rows with an error status.
    ledger_rows: int | None = None
    ledger_attempts_per_request: float | None = None
    fallback_share: float | None = None
    ledger_errors: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
