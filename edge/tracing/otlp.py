"""OTLP trace export bytes written directly (protobuf wire format), for the SDK's OTLP exporters.

The SDK's own encoder builds one protobuf message object per span, attribute and value and then
serializes them; for the gateway's spans that is most of what tracing costs (bench/README.md,
"Tracing"). This writes the same ``ExportTraceServiceRequest`` bytes straight from the SDK's
ReadableSpans, following opentelemetry-proto's ``collector/trace/v1/trace_service.proto``,
``trace/v1/trace.proto`` and ``common/v1/common.proto`` and the protobuf encoding rules
(https://protobuf.dev/programming-guides/encoding/). The SDK's OTLP/HTTP and OTLP/gRPC exporters
still do the sending (retries, compression, TLS, headers): ``fast_exporter_class`` hands them these
bytes, and falls back to the SDK's encoder when an exporter version has no seam for it. A test
decodes the output with the opentelemetry-proto message types.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

__all__ = ["SpanEncoder", "fast_exporter_class"]

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_MASK64 = (1 << 64) - 1
_CACHED = 4096  # encoded attributes kept per encoder (most repeat from span to span)


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return bytes((value,))
    value &= _MASK64  # int64 negatives: two's complement, ten bytes
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte(s), the length, the payload."""
    n = len(payload)
    return tag + (bytes((n,)) if n < 0x80 else _varint(n)) + payload


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


# Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
# AnyValue: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7.
def _any_value(value: Any) -> bytes:
    if isinstance(value, str):
        return _field(b"\x0a", _text(value))
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, (tuple, list)):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    return _field(b"\x0a", _text(str(value)))


class SpanEncoder:
    """ReadableSpans -> serialized ExportTraceServiceRequest; one per exporter (its caches)."""

    def __init__(self) -> None:
        # Whole encoded attributes (KeyValue fields), by key, value and type: the gateway's
        # attribute names and most of their values (models, routes, statuses, token counts)
        # repeat from span to span. The field's tag and the value's type are part of the key (the
        # same pair is encoded under another tag in a resource or an event; True == 1 for a dict).
        self._pairs: dict[tuple[bytes, str, Any, type], bytes] = {}

    def _attributes(self, tag: bytes, attributes: Any) -> bytes:
        if not attributes:
            return b""
        pairs = self._pairs
        out = []
        for key, value in attributes.items():
            kind = value.__class__
            cacheable = kind is int or kind is bool or (kind is str and len(value) <= 64)
            if cacheable:
                encoded = pairs.get((tag, key, value, kind))
                if encoded is not None:
                    out.append(encoded)
                    continue
            encoded = _field(tag, _field(b"\x0a", _text(key)) + _field(b"\x12", _any_value(value)))  # KeyValue: key (1), value (2)
            if cacheable:
                if len(pairs) >= _CACHED:
                    pairs.clear()
                pairs[(tag, key, value, kind)] = encoded
            out.append(encoded)
        return b"".join(out)

    def _span(self, span: Any) -> bytes:
        context = span.context
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),  # 1 trace_id
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),  # 2 span_id
        ]
        if context.trace_state:
            parts.append(_field(b"\x1a", context.trace_state.to_header().encode()))  # 3 trace_state
        parent = span.parent
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))  # 4 parent_span_id
        parts.append(_field(b"\x2a", _text(span.name)))  # 5 name
        parts.append(bytes((0x30, span.kind.value + 1)))  # 6 kind: OTLP counts from UNSPECIFIED
        parts.append(b"\x39" + _pack_fixed64(span.start_time or 0))  # 7 start_time_unix_nano
        parts.append(b"\x41" + _pack_fixed64(span.end_time or 0))  # 8 end_time_unix_nano
        parts.append(self._attributes(b"\x4a", span.attributes))  # 9 attributes
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))  # 10
        for event in span.events:  # 11 events: time (1), name (2), attributes (3), dropped (4)
            dropped = b"\x20" + _varint(event.dropped_attributes) if event.dropped_attributes else b""
            parts.append(_field(b"\x5a", b"\x09" + _pack_fixed64(event.timestamp) + _field(b"\x12", _text(event.name)) + self._attributes(b"\x1a", event.attributes) + dropped))
        for link in span.links:  # 13 links: trace_id (1), span_id (2), attributes (4), dropped (5), flags (6)
            lc = link.context
            dropped = b"\x28" + _varint(link.dropped_attributes) if link.dropped_attributes else b""
            flags = b"\x35" + _pack_fixed32(0x300 if lc.is_remote else 0x100)
            parts.append(_field(b"\x6a", b"\x0a\x10" + lc.trace_id.to_bytes(16, "big") + b"\x12\x08" + lc.span_id.to_bytes(8, "big") + self._attributes(b"\x22", link.attributes) + dropped + flags))
        status = span.status
        code = status.status_code.value  # UNSET 0, OK 1, ERROR 2: the same numbers in OTLP
        # 15 status: message (2), code (3); present (maybe empty) on every span, as the SDK writes it.
        parts.append(_field(b"\x7a", (_field(b"\x12", _text(status.description)) if status.description else b"") + (b"\x18" + _varint(code) if code else b"")))
        # 16 flags: "the parent's remoteness is known" (0x100) and "it is remote" (0x200), as the
        # SDK's encoder writes them.
        parts.append(b"\x85\x01" + _pack_fixed32(0x300 if parent is not None and parent.is_remote else 0x100))
        return b"".join(parts)

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The serialized ExportTraceServiceRequest for these finished spans."""
        by_resource: dict[int, tuple[Any, dict[tuple[str, str, str], list[bytes]]]] = {}
        for span in spans:
            resource = span.resource
            entry = by_resource.get(id(resource))
            if entry is None:
                entry = by_resource[id(resource)] = (resource, {})
            scope = span.instrumentation_scope
            key = (scope.name, scope.version or "", scope.schema_url or "") if scope is not None else ("", "", "")
            entry[1].setdefault(key, []).append(_field(b"\x12", self._span(span)))
        out = []
        for resource, scopes in by_resource.values():
            body = [_field(b"\x0a", self._attributes(b"\x0a", resource.attributes))]  # 1 resource
            for (name, version, schema), encoded in scopes.items():
                scope = _field(b"\x0a", _text(name)) + (_field(b"\x12", _text(version)) if version else b"")
                payload = _field(b"\x0a", scope) + b"".join(encoded)  # 1 scope, 2 spans
                if schema:
                    payload += _field(b"\x1a", _text(schema))
                body.append(_field(b"\x12", payload))  # 2 scope_spans
            if resource.schema_url:
                body.append(_field(b"\x1a", _text(resource.schema_url)))
            out.append(_field(b"\x0a", b"".join(body)))  # 1 resource_spans
        return b"".join(out)


def fast_exporter_class(base: Any) -> Any:
    """A subclass of an SDK OTLP span exporter whose encoding step is SpanEncoder.encode.

    OTLP/gRPC: ``_translate_data`` makes the request message (here: parsed from our bytes by the
    C protobuf runtime, then serialized again by grpc, both cheap). OTLP/HTTP: ``export``
    serializes and hands the bytes to the exporter's transport, ``_client.export``, which keeps
    the SDK's retries and compression. Another SDK version without the seam gets ``base``.
    """
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.sdk.trace.export import SpanExportResult

    if "_translate_data" in vars(base):

        def translate(self: Any, data: Sequence[Any]) -> Any:
            return ExportTraceServiceRequest.FromString(_encoder(self).encode(data))

        return type(f"Fast{base.__name__}", (base,), {"_translate_data": translate, "__module__": __name__})

    def export(self: Any, spans: Sequence[Any]) -> Any:
        client = getattr(self, "_client", None)
        if client is None or not callable(getattr(client, "export", None)):
            return base.export(self, spans)  # no seam in this SDK version: its own encoder
        if getattr(self, "_shutdown", False):
            return SpanExportResult.FAILURE
        try:
            result = client.export(_encoder(self).encode(spans))
        except Exception:  # as in the SDK's exporter: a failed export is a result, never a crash
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE

    return type(f"Fast{base.__name__}", (base,), {"export": export, "__module__": __name__})


def _encoder(exporter: Any) -> SpanEncoder:
    # One per exporter; only the exporter's own thread calls it.
    encoder = exporter.__dict__.get("_edge_encoder")
    if encoder is None:
        encoder = exporter.__dict__["_edge_encoder"] = SpanEncoder()
    return encoder
