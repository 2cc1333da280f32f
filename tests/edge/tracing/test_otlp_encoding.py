"""edge.tracing.otlp writes the very ExportTraceServiceRequest the SDK's own encoder builds.

Spans of every shape the SDK can record (attributes of every value type, events, links, error
status with a description, remote and local parents, no parent, trace state, two resources and
two scopes) are encoded both ways; decoded with the opentelemetry-proto types, they are equal.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState, set_span_in_context

from edge.tracing.otlp import SpanEncoder, fast_exporter_class


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _spans() -> list[ReadableSpan]:
    kept = _Keep()
    for service in ("edge-a", "edge-b"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "service.instance.id": "h-1"}), shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(kept))
        for scope in ("llm-edge", "other"):
            tracer = provider.get_tracer(scope, "0.1.0")
            remote = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "v1")]))
            server = tracer.start_span("POST /v1/chat/completions", context=set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.response.status_code": 200, "flag": True, "on": 1, "edge.cost_usd": 0.000123, "edge.stream": True,
                "edge.tags": ("customer=acme", "feature=search"), "edge.counts": (1, -2, 3), "edge.flags": (True, False),
                "edge.ratios": (0.5, 1.25), "neg": -42, "big": 2**62, "unicode": "caf\u00e9 \u2603 \U0001f600", "empty": "", "long": "x" * 300,
            })
            client = tracer.start_span("chat gpt-5.2", context=set_span_in_context(server), kind=SpanKind.CLIENT, attributes={"gen_ai.request.model": "gpt-5.2"},
                                       links=[Link(remote, {"why": "retry"})])
            client.add_event("retry", {"attempt": 2, "http.request.method": "POST", "flag": 1, "on": True})
            client.set_status(Status(StatusCode.ERROR, "upstream said 503"))
            client.end()
            server.set_status(Status(StatusCode.OK))
            server.end()
            root = tracer.start_span("no parent", kind=SpanKind.INTERNAL)
            root.end()
            for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
                tracer.start_span(kind.name, kind=kind).end()
    return kept.spans


def test_our_bytes_decode_to_the_sdk_encoders_message() -> None:
    spans = _spans()
    assert len(spans) == 20
    ours = ExportTraceServiceRequest.FromString(SpanEncoder().encode(spans))
    assert ours == encode_spans(spans)
    # Again with warm caches (keys and short values are cached per encoder).
    encoder = SpanEncoder()
    encoder.encode(spans)
    assert ExportTraceServiceRequest.FromString(encoder.encode(spans)) == encode_spans(spans)


def test_the_fast_exporters_keep_the_sdk_transport() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    fast_grpc = fast_exporter_class(GrpcExporter)
    assert issubclass(fast_grpc, GrpcExporter) and fast_grpc._translate_data is not GrpcExporter._translate_data
    exporter = fast_grpc(endpoint="http://127.0.0.1:9", insecure=True)
    spans = _spans()
    assert exporter._translate_data(spans) == encode_spans(spans)
    exporter.shutdown()
    fast_http = fast_exporter_class(HttpExporter)
    assert issubclass(fast_http, HttpExporter) and fast_http.export is not HttpExporter.export
    # The seam it uses: the SDK exporter's transport client, whose export takes bytes.
    assert callable(fast_http(endpoint="http://127.0.0.1:9/v1/traces")._client.export)
