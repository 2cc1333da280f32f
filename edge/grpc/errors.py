"""EdgeError -> gRPC status code + google.rpc.Status details (grpcio-status), mapped once.

Codes follow the HTTP status each error already carries (edge/errors.py), per Google's
HTTP<->gRPC table (https://cloud.google.com/apis/design/errors#handling_errors): 400/413/415/422
INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429
RESOURCE_EXHAUSTED, 502/503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, anything else INTERNAL.

Details (https://github.com/googleapis/googleapis/blob/master/google/rpc/error_details.proto):
``ErrorInfo`` with reason = the OpenAI error code (or type when there is none), domain
"llm-edge", metadata {type, code, param, status} (empty string for a missing code or param);
``RetryInfo`` with the retry delay for 429 and 503 when the upstream (or we) said how long.
"""

from __future__ import annotations

import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from edge.errors import EdgeError

__all__ = ["DOMAIN", "abort", "grpc_code", "status_proto", "trailing_metadata"]

DOMAIN = "llm-edge"

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def grpc_code(status: int) -> grpc.StatusCode:
    return _CODES.get(status, grpc.StatusCode.INTERNAL)


def status_proto(err: EdgeError) -> status_pb2.Status:
    """The google.rpc.Status for an error: code, message, ErrorInfo and maybe RetryInfo."""
    code = grpc_code(err.status)
    info = error_details_pb2.ErrorInfo(
        reason=err.code or err.type,
        domain=DOMAIN,
        metadata={"type": err.type, "code": err.code or "", "param": err.param or "", "status": str(err.status)},
    )
    details = [_pack(info)]
    if err.status in (429, 503) and err.retry_after is not None:
        seconds = max(0.0, float(err.retry_after))
        whole = math.floor(seconds)
        delay = duration_pb2.Duration(seconds=whole, nanos=int(round((seconds - whole) * 1e9)))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=code.value[0], message=err.message, details=details)


def trailing_metadata(err: EdgeError, request_id: str) -> tuple[tuple[str, str | bytes], ...]:
    """Trailers for a failed call: the serialized Status (``grpc-status-details-bin``) and the id."""
    return (("grpc-status-details-bin", status_proto(err).SerializeToString()), ("x-request-id", request_id))


async def abort(context: grpc.aio.ServicerContext, err: EdgeError, request_id: str) -> None:
    """End the call with the error's code, message and details; raises grpc's AbortError."""
    await context.abort(grpc_code(err.status), err.message, trailing_metadata(err, request_id))


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.RetryInfo) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
