"""Prometheus metrics (``edge_*``), one registry per app: no module-level mutable state.

With several workers, each process serves its own numbers unless PROMETHEUS_MULTIPROC_DIR is set
(the supervisor sets it), in which case /metrics aggregates every worker through
prometheus_client's multiprocess mode.

Every label value is bounded, whatever clients send: ``model`` is a configured public model or a
``<provider>/<model>`` listed in a provider's ``models``, and every other name (passthrough to a
model the config does not list) is counted as ``model="<other>"`` (``OTHER_MODEL``), so a key
holder cannot mint series by inventing model names; the ledger keeps the real name per row.
``provider`` is a configured provider name (or ``-`` when none was tried), ``status`` and
``reason`` an HTTP status (100-599, anything else ``other``) or one of a few words, ``type``
and ``kind`` fixed sets.
"""

from __future__ import annotations

import os

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from edge.adapters.fields import UNKNOWN, is_declared

from .accounting import UsageRecord

__all__ = ["CONTENT_TYPE", "OTHER_MODEL", "Metrics", "status_label"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The one label value for every model the config does not name (angle brackets: no model is
# called that, as no config value is "<redacted>").
OTHER_MODEL = "<other>"
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def status_label(status: int | str) -> str:
    """An HTTP status as a label (100-599; an upstream may send any three digits), or a word."""
    if isinstance(status, int):
        return str(status) if 100 <= status <= 599 else "other"
    return status


class Metrics:
    def __init__(self, models: Iterable[str] = ()) -> None:
        # The model names that keep their own label value (config: public models and the
        # models each provider lists); see OTHER_MODEL.
        self._models = frozenset(models)
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter("edge_requests", "Requests by public model, provider that answered and status (499: client went away).", ["model", "provider", "status"], registry=reg)
        self.tokens = Counter("edge_tokens", "Tokens by public model and type (prompt, completion, cached, reasoning, cache_write).", ["model", "type"], registry=reg)
        self.cost = Counter("edge_cost_usd", "Spend in USD by public model.", ["model"], registry=reg)
        self.latency = Histogram("edge_request_duration_seconds", "Time from request to last byte.", ["model"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.ttft = Histogram("edge_time_to_first_token_seconds", "Streams: time to the first content byte.", ["model"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.ratelimited = Counter("edge_ratelimited", "Requests refused by a limit, by kind (requests, tokens, budget).", ["kind"], registry=reg)
        self.fallbacks = Counter("edge_fallbacks", "Requests answered by a fallback model, by public model.", ["model"], registry=reg)
        self.upstream_errors = Counter("edge_upstream_errors", "Failed upstream attempts by provider and reason (HTTP status, timeout, connection, stream).", ["provider", "reason"], registry=reg)
        self.dropped = Counter("edge_dropped_params", "Request fields a route did not get (refused and dropped, or ignored), by provider and field (vendor fields: unknown).", ["provider", "field"], registry=reg)
        self.cache_results = Counter("edge_response_cache", "Requests the response cache was on for, by public model and result (hit, miss, stored).", ["model", "result"], registry=reg)
        self.saved = Counter("edge_saved_usd", "USD caching saved against uncached prices (prompt-cache reads, response-cache hits), by public model; the write premium of requests that only wrote a prompt cache is in the ledger (saved_usd below 0).", ["model"], registry=reg)
        self.inflight = Gauge("edge_inflight_requests", "Requests being served now.", registry=reg, multiprocess_mode="livesum")
        # The ledger store and the spool (edge.store.guard, edge.ledger; docs/hostile.md).
        self.store_up = Gauge("edge_store_up", "1 while the key and usage store answers, 0 during an outage; side: reads (budget checks, key lookups) or writes (ledger rows, key changes).", ["side"], registry=reg, multiprocess_mode="livemin")
        self.store_refused = Counter("edge_store_unavailable", "Calls answered 503 because the key and usage store did not answer, by operation.", ["op"], registry=reg)
        self.ledger_waiting = Gauge("edge_ledger_spooled_rows", "Ledger rows waiting for the store: on local disk in the spool folder (where=spool), in the fallback spool folder on another filesystem when the spool folder cannot be written (where=fallback_spool), or, when neither can, in memory (where=memory).", ["where"], registry=reg, multiprocess_mode="livesum")
        self.ledger_dropped = Counter("edge_ledger_dropped_rows", "Ledger rows lost because neither the store nor the spool took them (memory cap reached, or shutdown).", registry=reg)
        # edge.looplag: how late the loop ran a timer (wall), and the part it was busy (held).
        lag = Histogram("edge_event_loop_lag_seconds", "How much later than asked the worker's event loop ran a timer (every 50 ms): kind=wall as measured, kind=held the part its own thread was on CPU (a stall every request on the worker waited through).", ["kind"], buckets=_LAG_BUCKETS, registry=reg)
        self._lag_wall, self._lag_held = lag.labels("wall"), lag.labels("held")
        for side in ("reads", "writes"):
            self.store_up.labels(side).set(1)
        for where in ("spool", "fallback_spool", "memory"):
            self.ledger_waiting.labels(where).set(0)
        self._children: dict[tuple[str, str | None, int], tuple[object, ...]] = {}
        # Read once: prometheus_client itself picks its value store from this at import.
        self._multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

    def add(self, record: UsageRecord) -> None:
        model = self.model_label(record.public_model)
        key = (model, record.provider, record.status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(model, record.provider or "-", status_label(record.status)),
                self.tokens.labels(model, "prompt"),
                self.tokens.labels(model, "completion"),
                self.tokens.labels(model, "cached"),
                self.tokens.labels(model, "reasoning"),
                self.latency.labels(model),
                self.ttft.labels(model),
                self.cost.labels(model),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        req, prompt, completion, cached, reasoning, latency, ttft, cost = children
        req.inc()  # type: ignore[attr-defined]
        if record.prompt_tokens:
            prompt.inc(record.prompt_tokens)  # type: ignore[attr-defined]
        if record.completion_tokens:
            completion.inc(record.completion_tokens)  # type: ignore[attr-defined]
        if record.cached_tokens:
            cached.inc(record.cached_tokens)  # type: ignore[attr-defined]
        if record.reasoning_tokens:
            reasoning.inc(record.reasoning_tokens)  # type: ignore[attr-defined]
        latency.observe(record.latency_ms / 1000.0)  # type: ignore[attr-defined]
        if record.ttft_ms is not None:
            ttft.observe(record.ttft_ms / 1000.0)  # type: ignore[attr-defined]
        if record.cost_usd:
            cost.inc(record.cost_usd)  # type: ignore[attr-defined]
        if record.cache_write_5m_tokens or record.cache_write_1h_tokens:
            self.tokens.labels(model, "cache_write").inc(record.cache_write_5m_tokens + record.cache_write_1h_tokens)
        if record.saved_usd is not None and record.saved_usd > 0:  # a counter: the write premium (negative) is the ledger's
            self.saved.labels(model).inc(record.saved_usd)
        if record.dropped_params:
            provider = record.provider or "-"
            for name in record.dropped_params:
                # Labels stay bounded: the spec's field names, and one value for vendor fields.
                self.dropped.labels(provider, name if is_declared(name) else UNKNOWN).inc()

    def model_label(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def cache_result(self, model: str, result: str) -> None:
        self.cache_results.labels(self.model_label(model), result).inc()

    def limited(self, kind: str) -> None:
        self.ratelimited.labels(kind).inc()

    def fallback(self, model: str) -> None:
        self.fallbacks.labels(self.model_label(model)).inc()

    def upstream_error(self, provider: str, status: int | str) -> None:
        self.upstream_errors.labels(provider, status_label(status)).inc()

    def store_state(self, side: str, up: bool) -> None:
        self.store_up.labels(side).set(1 if up else 0)

    def store_unavailable(self, op: str) -> None:
        self.store_refused.labels(op).inc()

    def ledger_rows(self, spooled: int, fallback: int, in_memory: int) -> None:
        self.ledger_waiting.labels("spool").set(spooled)
        self.ledger_waiting.labels("fallback_spool").set(fallback)
        self.ledger_waiting.labels("memory").set(in_memory)

    def loop_lag(self, wall: float, held: float) -> None:
        self._lag_wall.observe(wall)
        self._lag_held.observe(held)

    def ledger_lost(self, rows: int) -> None:
        self.ledger_dropped.inc(rows)

    def close(self) -> None:
        """A worker that stops: its live gauges (in flight, store up, spooled rows) leave the
        aggregate, as prometheus_client's multiprocess mode asks (mark_process_dead)."""
        if self._multiprocess_dir:
            multiprocess.mark_process_dead(os.getpid(), self._multiprocess_dir)

    def render(self) -> bytes:
        if self._multiprocess_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
