"""Per-call plumbing shared by the handlers: metadata, deadlines, validation, the route message."""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypeVar

import grpc

from edge.errors import GatewayTimeout
from edge.fastpath import jsonio
from edge.http.middleware import new_request_id
from edge.proxy import RequestContext
from edge.v1 import types_pb2

from .errors import invalid_from_validation

__all__ = ["DeadlineExceeded", "call_metadata", "deadline", "deadline_error", "deadline_passed", "route", "validate"]

T = TypeVar("T")

# The same rule as the HTTP surface's x-request-id (edge/http/middleware.py).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class DeadlineExceeded(GatewayTimeout):
    """The caller's gRPC deadline passed first; the upstream request was closed."""

    code = "deadline_exceeded"


def call_metadata(context: grpc.aio.ServicerContext) -> tuple[str, str | None]:
    """The request id (the caller's x-request-id when well-formed, else a new one) and the
    ``authorization`` value. gRPC metadata keys arrive lower-case."""
    request_id = None
    authorization = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value if isinstance(value, str) else None
        elif key == "x-request-id" and isinstance(value, str) and _CLIENT_ID.match(value):
            request_id = value
    return request_id or new_request_id(), authorization


def deadline(context: grpc.aio.ServicerContext) -> asyncio.Timeout:
    """A timeout scope that ends when the caller's deadline does (none when it set none), so
    the upstream request is cancelled, and its connection closed, the moment the caller gives up."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e8:  # grpc reports "no deadline" as a huge number
        return asyncio.timeout(None)
    return asyncio.timeout(max(0.0, remaining))


def deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0.001


def deadline_error() -> DeadlineExceeded:
    return DeadlineExceeded("The call's deadline passed before the answer was complete; the upstream request was cancelled.")


def validate(body: dict[str, Any], type: type[T]) -> T:
    """The same schema check the HTTP surface runs; a failure is INVALID_ARGUMENT with the path."""
    try:
        return jsonio.convert(body, type)
    except jsonio.ValidationError as exc:
        raise invalid_from_validation(str(exc)) from None


def route(ctx: RequestContext) -> types_pb2.Route:
    record = ctx.record
    return types_pb2.Route(provider=record.provider or "", model=record.upstream_model or "", attempts=record.attempts)
