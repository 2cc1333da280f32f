"""The gateway's own request and response headers (``x-edge-*``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.errors import InvalidRequest

from ..context import RequestContext, admit_checked
from ..gateway import Gateway
from ..params import DROP_HEADER, DROPPED_HEADER, flag_set
from ..tags import HEADER as TAGS_HEADER

__all__ = ["TIMEOUT_HEADER", "admit_request", "client_timeout", "drop_params", "response_headers", "route_headers"]

TIMEOUT_HEADER = "x-edge-timeout-ms"


def client_timeout(request: web.Request) -> float | None:
    """The client's deadline in seconds (it can only shorten routing.timeout_s)."""
    raw = request.headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        millis = float(raw)
    except ValueError:
        raise InvalidRequest(f"Header {TIMEOUT_HEADER} must be a number of milliseconds, got '{raw[:40]}'.", param=TIMEOUT_HEADER) from None
    if not millis > 0 or millis != millis:
        raise InvalidRequest(f"Header {TIMEOUT_HEADER} must be positive, got '{raw[:40]}'.", param=TIMEOUT_HEADER)
    return millis / 1000.0


def route_headers(ctx: RequestContext) -> dict[str, str]:
    """The route last tried and the attempts made, why a fallback, what the route did not get;
    empty when no route was tried (the request was refused before any upstream call)."""
    record = ctx.record
    if not record.attempts:
        return {}
    headers = {"x-edge-route": f"{record.provider}/{record.upstream_model}", "x-edge-attempts": str(record.attempts)}
    if ctx.fallback_reason:
        headers["x-edge-fallback-reason"] = ctx.fallback_reason
    if record.dropped_params:
        headers[DROPPED_HEADER] = ", ".join(record.dropped_params)
    return headers


def response_headers(ctx: RequestContext, cost: float | None = None) -> dict[str, str]:
    """What happened: the route that answered, how many attempts, why a fallback, which request
    fields it did not get, the cost."""
    headers = {"x-request-id": ctx.request_id, **route_headers(ctx)}
    if cost is not None:
        headers["x-edge-cost-usd"] = f"{cost:.8f}"
    if ctx.limit_headers:
        headers.update(ctx.limit_headers)
    return headers


def drop_params(request: web.Request) -> bool:
    """``x-edge-drop-params: true``: drop (and name) the fields a route cannot honour."""
    return flag_set(request.headers.get(DROP_HEADER))


async def admit_request(request: web.Request, gw: Gateway, ctx: RequestContext, body: dict[str, Any], messages: Any) -> None:
    """Allow-list, tags (x-edge-tags, metadata), rate limits and budgets for an HTTP request."""
    # The size of the body as read (only a token limit needs it): Content-Length is absent on a
    # chunked body and counts the compressed bytes of a gzipped one (aiohttp's read() returns
    # the body it already read).
    size = len(await request.read()) if ctx.principal.tpm else 0
    await admit_checked(gw, ctx, tag_header=request.headers.get(TAGS_HEADER), metadata=body.get("metadata"), messages=messages, body_size=size)
