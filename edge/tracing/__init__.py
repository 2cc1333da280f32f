"""OpenTelemetry traces: one server span per request, one client span per upstream attempt.

Off by default (``tracing:`` in the config, or the standard OTEL_* variables: edge.config_tracing).
When off, ``Gateway.tracing`` is None: no OpenTelemetry module is imported, no middleware is
installed, and each hook on the request path is a single ``is None`` test. When on it is an
``OtelTracing`` (edge.tracing.otel), whose spans are named and attributed by the OpenTelemetry
GenAI semantic conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/),
with the HTTP and RPC server conventions on the server span, plus the gateway's own ``edge.*``
attributes. Spans go to an OTLP exporter through the SDK's BatchSpanProcessor, which exports
from its own thread: the event loop only appends finished spans to its queue (dropping them,
never waiting, when the queue is full).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config_tracing import TracingConfig

if TYPE_CHECKING:
    from .otel import OtelTracing

__all__ = ["build_tracing"]


def build_tracing(config: TracingConfig, version: str) -> OtelTracing | None:
    """The tracer for one worker, or None when tracing is off."""
    if not config.enabled:
        return None
    # Imported only now: a gateway without the `otel` extra runs as long as tracing is off
    # (config loading refuses tracing on without the SDK, edge.config_tracing).
    from .otel import OtelTracing

    return OtelTracing(config, version)
