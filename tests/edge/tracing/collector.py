"""An in-process OTLP trace receiver on loopback, over OTLP/HTTP or OTLP/gRPC, for the tests.

It decodes every ExportTraceServiceRequest with the opentelemetry-proto message types (the
real wire format, https://opentelemetry.io/docs/specs/otlp/) and keeps each span as a plain
``Span`` record; the raw request bodies are kept too, so a test can check that some text never
left the gateway in any form.
"""

from __future__ import annotations

import gzip
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

KINDS = {trace_pb2.Span.SPAN_KIND_SERVER: "server", trace_pb2.Span.SPAN_KIND_CLIENT: "client", trace_pb2.Span.SPAN_KIND_INTERNAL: "internal"}


@dataclass
class Span:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status: str  # "unset", "ok", "error"
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(default_factory=dict)


def _value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


class Collector:
    """Start with ``Collector("http")`` or ``Collector("grpc")``; ``endpoint`` is what to configure."""

    def __init__(self, protocol: str = "http") -> None:
        self.protocol = protocol
        self.spans: list[Span] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        if protocol == "http":
            self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
            self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
            self._thread.start()
            self.endpoint = f"http://127.0.0.1:{self._http.server_address[1]}/v1/traces"
        else:
            self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self), self._grpc)
            port = self._grpc.add_insecure_port("127.0.0.1:0")
            self._grpc.start()
            self.endpoint = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        if self.protocol == "http":
            self._http.shutdown()
            self._http.server_close()
        else:
            self._grpc.stop(0)

    def receive(self, body: bytes, headers: dict[str, str]) -> bytes:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        self.spans.append(Span(
                            name=s.name,
                            kind=KINDS.get(s.kind, str(s.kind)),
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            attributes=_attributes(s.attributes),
                            status={0: "unset", 1: "ok", 2: "error"}[s.status.code],
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            resource=resource,
                        ))
        return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

    def wait(self, predicate: Callable[[list[Span]], Any], timeout: float = 15.0) -> Any:
        """Poll until ``predicate(spans)`` is truthy (returns it), or fail with what arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = predicate(list(self.spans))
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no such spans within {timeout} s; got {[(s.name, s.trace_id) for s in self.spans]}")
            time.sleep(0.05)

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                answer = collector.receive(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext) -> trace_service_pb2.ExportTraceServiceResponse:  # noqa: N802
        headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.collector.receive(request.SerializeToString(), headers)
        return trace_service_pb2.ExportTraceServiceResponse()
