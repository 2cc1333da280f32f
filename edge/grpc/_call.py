"""Per-call plumbing shared by the handlers: metadata, deadlines, validation, the route message."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from edge.errors import GatewayTimeout, invalid_from_validation
from edge.adapters.types import ChatResult
from edge.fastpath import jsonio
from edge.gateway import Gateway
from edge.proxy import answer_chat as _answer_chat
from edge.params import DROP_HEADER, DROPPED_HEADER, flag_set
from edge.rcache import HEADER as CACHE_HEADER
from edge.proxy import RequestContext
from edge.router import Resolution
from edge.v1 import types_pb2


__all__ = ["DeadlineExceeded", "answer_chat", "buffered", "cache_header", "call_metadata", "call_timeout", "cancel_outcome", "deadline_error", "deadline_passed", "drop_params", "route", "trailers", "validate"]

T = TypeVar("T")

# The same rule as the HTTP surface's x-request-id (edge/http/middleware.py).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class DeadlineExceeded(GatewayTimeout):
    """The caller's gRPC deadline passed mid-stream; the upstream request was closed."""

    code = "deadline_exceeded"


def call_metadata(context: grpc.aio.ServicerContext, gw: Gateway) -> tuple[str, str | None]:
    """The request id (the caller's x-request-id when well-formed, else a new one) and the
    ``authorization`` value. gRPC metadata keys arrive lower-case."""
    request_id = None
    authorization = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value if isinstance(value, str) else None
        elif key == "x-request-id" and isinstance(value, str) and _CLIENT_ID.match(value):
            request_id = value
    return request_id or gw.request_ids.new(), authorization


def call_timeout(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds left before the caller's deadline (None: it set none). It becomes the request's
    timeout, which the routing executor turns into the deadline every upstream attempt gets."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 1e8:  # grpc reports "no deadline" as a huge number
        return None
    return max(0.001, remaining)


def deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    remaining = context.time_remaining()
    # grpc cancels the handler at its own reading of the deadline, which can be a few ms ahead
    # of ours: a cancellation that close to the deadline is the deadline.
    return remaining is not None and remaining <= 0.05


def cancel_outcome(context: grpc.aio.ServicerContext) -> Callable[[], tuple[int, str | None, bool]]:
    """What a cancelled handler was, for the record: (status, error type, caller gone). grpc
    cancels the handler when the caller went away (499) or its deadline passed first (504)."""

    def outcome() -> tuple[int, str | None, bool]:
        if deadline_passed(context):
            return 504, "timeout", False
        return 499, None, True

    return outcome


def deadline_error() -> DeadlineExceeded:
    return DeadlineExceeded("The call's deadline passed while the answer was streaming; the upstream request was closed.")


def validate(body: dict[str, Any], type: type[T]) -> T:
    """The same schema check the HTTP surface runs; a failure is INVALID_ARGUMENT with the path."""
    try:
        return jsonio.convert(body, type)
    except jsonio.ValidationError as exc:
        raise invalid_from_validation(str(exc)) from None


def route(ctx: RequestContext) -> types_pb2.Route:
    """What x-edge-route, x-edge-attempts and x-edge-fallback-reason say over HTTP."""
    record = ctx.record
    return types_pb2.Route(provider=record.provider or "", model=record.upstream_model or "", attempts=record.attempts, fallback_reason=ctx.fallback_reason or "")


def buffered(context: grpc.aio.ServicerContext) -> bool:
    """``x-edge-buffer: true``: check an escalating model's answer before streaming it (HTTP's header)."""
    return flag_set(_metadata(context, "x-edge-buffer"))


def drop_params(context: grpc.aio.ServicerContext) -> bool:
    """``x-edge-drop-params: true``: drop (and name) the fields a route cannot honour (HTTP's header)."""
    return flag_set(_metadata(context, DROP_HEADER))


def cache_header(context: grpc.aio.ServicerContext) -> str | None:
    """``x-edge-cache``: the response cache for this call, a TTL in seconds or off (HTTP's header)."""
    return _metadata(context, CACHE_HEADER)


def _metadata(context: grpc.aio.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else None
    return None


def trailers(ctx: RequestContext) -> tuple[tuple[str, str], ...]:
    """The call's trailing metadata: its request id, and the fields the route did not get."""
    dropped = ctx.record.dropped_params
    if dropped:
        return (("x-request-id", ctx.request_id), (DROPPED_HEADER, ", ".join(dropped)))
    return (("x-request-id", ctx.request_id),)


def answer_chat(gw: Gateway, resolution: Resolution, ctx: RequestContext, body: dict[str, Any]) -> Awaitable[ChatResult]:
    """One whole chat answer, escalation included: the very function the HTTP surface calls."""
    return _answer_chat(gw, resolution, ctx, body)
