"""One accounting path: every request, on either surface, yields one UsageRecord.

The record goes to metrics at once and to the ledger in batches, off the hot path. Usage comes
from the upstream; an estimate is used only where the upstream reported nothing (a stream cut by a
disconnect, a provider that counts nothing), and the record says so (``estimated``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from msgspec import Struct

__all__ = ["Accounting", "AttemptInfo", "RecordSink", "UsageRecord"]


class AttemptInfo(Struct, omit_defaults=True):
    """One upstream attempt: which route, how it ended (HTTP status or timeout/connection/...)."""

    route: str
    status: str
    latency_ms: float
    error: str | None = None


class UsageRecord(Struct, omit_defaults=True):
    request_id: str
    ts: float
    public_model: str
    status: int
    key_id: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    error_type: str | None = None
    endpoint: str = "chat"
    surface: str = "http"  # "http" or "grpc": the same request over either gives the same row otherwise
    stream: bool = False
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cost_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    client_disconnected: bool = False
    fallback_reason: str | None = None
    attempt_log: list[AttemptInfo] | None = None
    tags: dict[str, str] | None = None
    # Request fields the answering route did not get (refused and dropped, or ignored): edge.params.
    dropped_params: list[str] | None = None
    # Prompt-cache writes by TTL (part of prompt_tokens, as cached_tokens, the reads, are).
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # USD caching saved against uncached prices: prompt caching (negative when writes cost more
    # than reads saved), or a whole answer from the response cache (edge.rcache).
    saved_usd: float | None = None
    cache_hit: bool = False


class RecordSink(Protocol):
    def add(self, record: UsageRecord) -> None: ...


class Accounting:
    """Fans each record out to its sinks (metrics, ledger, tests' observers); never blocks."""

    def __init__(self, sinks: list[RecordSink]) -> None:
        self._sinks = sinks
        self._observers: list[Callable[[UsageRecord], None]] = []

    def record(self, record: UsageRecord) -> None:
        for sink in self._sinks:
            sink.add(record)
        for observer in self._observers:
            observer(record)

    def observe(self, callback: Callable[[UsageRecord], None]) -> None:
        self._observers.append(callback)
