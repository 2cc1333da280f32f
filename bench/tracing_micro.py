"""What tracing costs one request, in one process, without the noise of a load test.

Runs the gateway's tracing hooks (edge.tracing.otel) for a plain chat request the way a request
does: the server span, one attempt, its success, the settle, the end; then encodes the finished
spans to OTLP bytes both ways (the SDK's encoder, and edge.tracing.otlp which the exporters use).
Spans go to an in-memory exporter, so no network is timed. Prints CPU microseconds per request.

    python -m bench.tracing_micro [--requests 20000]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from edge.accounting import UsageRecord
from edge.adapters.types import ChatResult, Usage
from edge.config import parse_config
from edge.tracing.otel import OtelTracing
from edge.tracing.otlp import SpanEncoder


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _context() -> Any:
    record = UsageRecord(request_id="req_bench", ts=0.0, public_model="echo", status=200, key_id="admin", provider="mock", upstream_model="echo", attempts=1, cost_usd=0.00005)
    return SimpleNamespace(record=record, request_id="req_bench", fallback_reason=None, usage=Usage(48, 20), principal=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    config = parse_config({"tracing": {"enabled": True, "sampler": "always_on"}}, env={}).tracing
    tracing = OtelTracing(config, "bench")
    kept = _Keep()
    tracing.provider._active_span_processor._span_processors = ()  # drop the OTLP batch processor
    tracing.provider.add_span_processor(SimpleSpanProcessor(kept))
    provider = SimpleNamespace(name="mock", kind="openai", config=SimpleNamespace(base_url="http://127.0.0.1:8000/v1"), client=None)
    tracing.instrument({"mock": provider})
    target = SimpleNamespace(provider=provider, upstream_model="echo", route="mock/echo")
    result = ChatResult(b"{}", Usage(48, 20), "stop")
    ctx = _context()
    n = args.requests
    started = time.process_time()
    for _ in range(n):
        request = tracing.start_server("POST /v1/chat/completions", None, {"http.request.method": "POST", "url.path": "/v1/chat/completions", "http.route": "/v1/chat/completions"})
        attempt = tracing.attempt(ctx, target, 1, 0)
        attempt.succeeded(result)
        tracing.settled(ctx, result.usage, None)
        tracing.end_server(request, {"http.response.status_code": 200, "edge.request_id": "req_bench"}, False)
    hooks = (time.process_time() - started) / n * 1e6
    spans = kept.spans
    started = time.process_time()
    for i in range(0, len(spans), 512):
        encode_spans(spans[i:i + 512]).SerializeToString()
    sdk = (time.process_time() - started) / n * 1e6
    encoder = SpanEncoder()
    started = time.process_time()
    for i in range(0, len(spans), 512):
        encoder.encode(spans[i:i + 512])
    ours = (time.process_time() - started) / n * 1e6
    print(f"{n} requests, {len(spans)} spans")
    print(f"spans (hooks + SDK recording), event loop: {hooks:.1f} us/request")
    print(f"OTLP encoding, export thread: {ours:.1f} us/request (the SDK's encoder: {sdk:.1f} us)")
    print(f"total with tracing on: {hooks + ours:.1f} us/request")


if __name__ == "__main__":
    main()
