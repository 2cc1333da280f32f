"""A gRPC call's server span, by the OpenTelemetry RPC conventions (used only when tracing is on).

https://opentelemetry.io/docs/specs/semconv/rpc/grpc/: span name ``edge.v1.Gateway/Method``,
kind SERVER, ``rpc.system.name`` "grpc", ``rpc.method`` the fully-qualified method and
``rpc.response.status_code`` the status name. A server span is an error for UNKNOWN,
DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS; the codes a client caused
(INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED...) are not. An incoming ``traceparent`` in the
call's metadata is continued.
"""

from __future__ import annotations

from typing import Any

import grpc

__all__ = ["end_server_span", "server_span", "status_name"]

_SERVER_ERRORS = frozenset(("UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"))
_PROPAGATED = ("traceparent", "tracestate")


def server_span(tracing: Any, context: grpc.aio.ServicerContext, service: str, method: str) -> Any:
    carrier = {k: v for k, v in context.invocation_metadata() or () if k in _PROPAGATED and isinstance(v, str)}
    full = f"{service}/{method}"
    return tracing.start_server(full, carrier or None, {"rpc.system.name": "grpc", "rpc.method": full})


def end_server_span(tracing: Any, trace: Any, code: str, request_id: str) -> None:
    tracing.end_server(trace, {"rpc.response.status_code": code, "edge.request_id": request_id}, code in _SERVER_ERRORS)


def status_name(context: grpc.aio.ServicerContext) -> str:
    """The code a call was aborted with (grpc keeps it on the context)."""
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
