"""The gateway's metrics (``edge_*``): plain numbers per worker, Prometheus text on a scrape.

A request adds to dicts and lists it owns (edge.metrics._families): no lock, no file, no
prometheus_client object on the hot path; one Metrics per app, no module-level mutable state.
With several workers the supervisor gives every worker one shared folder, and /metrics on any
worker adds up every worker's numbers (edge.metrics._shared): each worker writes its own to the
folder on a timer, and the scrape merges them with its own, fresh.

Every label value is bounded, whatever clients send: ``model`` is a configured public model or a
``<provider>/<model>`` listed in a provider's ``models``, and every other name (passthrough to a
model the config does not list) is counted as ``model="<other>"`` (``OTHER_MODEL``), so a key
holder cannot mint series by inventing model names; the ledger keeps the real name per row.
``provider`` is a configured provider name (or ``-`` when none was tried), ``status`` and
``reason`` an HTTP status (100-599, anything else ``other``) or one of a few words, ``type``
and ``kind`` fixed sets.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path

from edge.adapters.fields import UNKNOWN, is_declared

from ..accounting import UsageRecord
from ._families import Family, observe, render
from ._shared import PUBLISH_S, SharedFolder

__all__ = ["CONTENT_TYPE", "OTHER_MODEL", "Metrics", "status_label"]

log = logging.getLogger("edge.metrics")

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
    """Every family is an attribute; a series is a list changed in place (``series[0] += 1``)."""

    def __init__(self, models: Iterable[str] = (), shared_dir: str | Path | None = None) -> None:
        # The model names that keep their own label value (config: public models and the
        # models each provider lists); see OTHER_MODEL.
        self._models = frozenset(models)
        self.requests = Family("counter", "edge_requests", "Requests by public model, provider that answered and status (499: client went away).", ["model", "provider", "status"])
        self.tokens = Family("counter", "edge_tokens", "Tokens by public model and type (prompt, completion, cached, reasoning, cache_write).", ["model", "type"])
        self.cost = Family("counter", "edge_cost_usd", "Spend in USD by public model.", ["model"])
        self.latency = Family("histogram", "edge_request_duration_seconds", "Time from request to last byte.", ["model"], _LATENCY_BUCKETS)
        self.ttft = Family("histogram", "edge_time_to_first_token_seconds", "Streams: time to the first content byte.", ["model"], _LATENCY_BUCKETS)
        self.ratelimited = Family("counter", "edge_ratelimited", "Requests refused by a limit, by kind (requests, tokens, budget).", ["kind"])
        self.fallbacks = Family("counter", "edge_fallbacks", "Requests answered by a fallback model, by public model.", ["model"])
        self.upstream_errors = Family("counter", "edge_upstream_errors", "Failed upstream attempts by provider and reason (HTTP status, timeout, connection, stream).", ["provider", "reason"])
        self.dropped = Family("counter", "edge_dropped_params", "Request fields a route did not get (refused and dropped, or ignored), by provider and field (vendor fields: unknown).", ["provider", "field"])
        self.cache_results = Family("counter", "edge_response_cache", "Requests the response cache was on for, by public model and result (hit, miss, stored).", ["model", "result"])
        self.saved = Family("counter", "edge_saved_usd", "USD caching saved against uncached prices (prompt-cache reads, response-cache hits), by public model; the write premium of requests that only wrote a prompt cache is in the ledger (saved_usd below 0).", ["model"])
        inflight = Family("gauge", "edge_inflight_requests", "Requests being served now.", mode="livesum")
        # The middleware's series: [requests in flight], changed in place.
        self.inflight = inflight.series[()]
        # The ledger store and the spool (edge.store.guard, edge.ledger; docs/hostile.md).
        self.store_up = Family("gauge", "edge_store_up", "1 while the key and usage store answers, 0 during an outage; side: reads (budget checks, key lookups) or writes (ledger rows, key changes).", ["side"], mode="livemin")
        self.store_refused = Family("counter", "edge_store_unavailable", "Calls answered 503 because the key and usage store did not answer, by operation.", ["op"])
        self.ledger_waiting = Family("gauge", "edge_ledger_spooled_rows", "Ledger rows waiting for the store: on local disk in the spool folder (where=spool), in the fallback spool folder on another filesystem when the spool folder cannot be written (where=fallback_spool), or, when neither can, in memory (where=memory).", ["where"], mode="livesum")
        self.ledger_dropped = Family("counter", "edge_ledger_dropped_rows", "Ledger rows lost because neither the store nor the spool took them (memory cap reached, or shutdown).")
        # edge.looplag: how late the loop ran a timer (wall), and the part it was busy (held).
        self.lag = Family("histogram", "edge_event_loop_lag_seconds", "How much later than asked the worker's event loop ran a timer (every 50 ms): kind=wall as measured, kind=held the part its own thread was on CPU (a stall every request on the worker waited through).", ["kind"], _LAG_BUCKETS)
        self._lag_wall, self._lag_held = self.lag.labels("wall"), self.lag.labels("held")
        # In the order /metrics lists them (the order they were registered in before).
        self.families = (self.requests, self.tokens, self.cost, self.latency, self.ttft, self.ratelimited, self.fallbacks, self.upstream_errors, self.dropped, self.cache_results, self.saved, inflight, self.store_up, self.store_refused, self.ledger_waiting, self.ledger_dropped, self.lag)
        for side in ("reads", "writes"):
            self.store_up.labels(side)[0] = 1
        for where in ("spool", "fallback_spool", "memory"):
            self.ledger_waiting.labels(where)
        self._children: dict[tuple[str, str | None, int], tuple[list[float], ...]] = {}
        self._shared = SharedFolder(shared_dir) if shared_dir is not None else None
        self._publisher: asyncio.Task[None] | None = None

    def add(self, record: UsageRecord) -> None:
        model = record.public_model
        if model not in self._models:
            model = OTHER_MODEL
        key = (model, record.provider, record.status)
        children = self._children.get(key)
        if children is None:
            tokens = self.tokens
            children = (
                self.requests.labels(model, record.provider or "-", status_label(record.status)),
                tokens.labels(model, "prompt"),
                tokens.labels(model, "completion"),
                tokens.labels(model, "cached"),
                tokens.labels(model, "reasoning"),
                self.latency.labels(model),
                self.ttft.labels(model),
                self.cost.labels(model),
            )
            if len(self._children) < 10_000:
                self._children[key] = children
        req, prompt, completion, cached, reasoning, latency, ttft, cost = children
        req[0] += 1
        if record.prompt_tokens:
            prompt[0] += record.prompt_tokens
        if record.completion_tokens:
            completion[0] += record.completion_tokens
        if record.cached_tokens:
            cached[0] += record.cached_tokens
        if record.reasoning_tokens:
            reasoning[0] += record.reasoning_tokens
        seconds = record.latency_ms / 1000.0
        latency[bisect_left(_LATENCY_BUCKETS, seconds)] += 1  # observe(), inlined: once per request
        latency[-1] += seconds
        if record.ttft_ms is not None:
            seconds = record.ttft_ms / 1000.0
            ttft[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
            ttft[-1] += seconds
        if record.cost_usd:
            cost[0] += record.cost_usd
        if record.cache_write_5m_tokens or record.cache_write_1h_tokens:
            self.tokens.labels(model, "cache_write")[0] += record.cache_write_5m_tokens + record.cache_write_1h_tokens
        if record.saved_usd is not None and record.saved_usd > 0:  # a counter: the write premium (negative) is the ledger's
            self.saved.labels(model)[0] += record.saved_usd
        if record.dropped_params:
            provider = record.provider or "-"
            for name in record.dropped_params:
                # Labels stay bounded: the spec's field names, and one value for vendor fields.
                self.dropped.labels(provider, name if is_declared(name) else UNKNOWN)[0] += 1

    def model_label(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def cache_result(self, model: str, result: str) -> None:
        self.cache_results.labels(self.model_label(model), result)[0] += 1

    def limited(self, kind: str) -> None:
        self.ratelimited.labels(kind)[0] += 1

    def fallback(self, model: str) -> None:
        self.fallbacks.labels(self.model_label(model))[0] += 1

    def upstream_error(self, provider: str, status: int | str) -> None:
        self.upstream_errors.labels(provider, status_label(status))[0] += 1

    def store_state(self, side: str, up: bool) -> None:
        self.store_up.labels(side)[0] = 1 if up else 0

    def store_unavailable(self, op: str) -> None:
        self.store_refused.labels(op)[0] += 1

    def ledger_rows(self, spooled: int, fallback: int, in_memory: int) -> None:
        waiting = self.ledger_waiting
        waiting.labels("spool")[0] = spooled
        waiting.labels("fallback_spool")[0] = fallback
        waiting.labels("memory")[0] = in_memory

    def loop_lag(self, wall: float, held: float) -> None:
        observe(self.lag, self._lag_wall, wall)
        observe(self.lag, self._lag_held, held)

    def ledger_lost(self, rows: int) -> None:
        self.ledger_dropped.series[()][0] += rows

    def start(self) -> None:
        """With a shared folder: write this worker's numbers there every PUBLISH_S seconds."""
        if self._shared is not None and self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_every(PUBLISH_S))

    async def _publish_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.publish()
            except Exception:  # the timer must outlive one bad tick (write errors are logged there)
                log.exception("metrics: publishing to the shared folder failed")

    def publish(self) -> None:
        """Write this worker's numbers to the shared folder (a few KB; only what changed)."""
        if self._shared is not None:
            self._shared.publish(self.families)

    def close(self) -> None:
        """A worker that stops: its counts written a last time, its live gauges (in flight,
        store up, spooled rows) out of the aggregate (the supervisor does this for a killed one)."""
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None
        if self._shared is not None:
            self._shared.retire(self.families)
            self._shared = None  # nothing is written after this

    def render(self) -> bytes:
        if self._shared is not None:
            return render(self._shared.merged(self.families))
        return render(self.families)
