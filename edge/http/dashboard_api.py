"""The dashboard's JSON endpoints (admin key only), documented in /openapi.json.

GET /v1/usage/series   spend, tokens, requests and errors per time bucket, by model, provider,
                       key or tag (``since``, ``group_by``, ``bucket``: auto or 1m..1d)
GET /v1/usage/routes   requests, errors by type, latency p50/p99 per public model and route
GET /v1/routes         every route's cooldown state now and why it is cooling down
GET /v1/budgets        every budget with what its current period has spent

The documents are built by edge.dashboard. Like GET /v1/usage, each first writes this worker's
pending ledger rows, so a request made just before is counted.
"""

from __future__ import annotations

import time

from aiohttp import web

from edge.dashboard import budgets_doc, parse_bucket, routes_doc, series_doc, traffic_doc
from edge.errors import InvalidRequest
from edge.fastpath import jsonio
from edge.gateway import Gateway
from edge.store import check_grouping
from edge.usage import parse_since

from .appkeys import GATEWAY

__all__ = ["budgets", "route_states", "usage_routes", "usage_series"]


def _admin(request: web.Request) -> Gateway:
    """The gateway, once the caller proved to hold the admin key (before anything else is read)."""
    gw = request.app[GATEWAY]
    gw.auth.require_admin(request.headers.get("authorization"))
    return gw


async def _written(gw: Gateway) -> None:
    await gw.ledger.flush()
    await gw.store.sync()


def _since(request: web.Request, now: float) -> float:
    try:
        since = parse_since(request.query.get("since", "24h"), now)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None
    if not since < now:
        raise InvalidRequest("since must be in the past", param="since")
    return max(since, 0.0)  # the ledger holds nothing older than 1970


def _json(doc: object) -> web.Response:
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def usage_series(request: web.Request) -> web.Response:
    gw = _admin(request)
    now = time.time()
    since = _since(request, now)
    group_by = request.query.get("group_by", "model")
    try:
        check_grouping(group_by)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="group_by") from None
    if group_by == "day":
        raise InvalidRequest("group_by=day is what the buckets already do; use model, key, provider or tag:<name>", param="group_by")
    try:
        bucket = parse_bucket(request.query.get("bucket", "auto"), now - since)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="bucket") from None
    await _written(gw)
    return _json(await series_doc(gw.store, since, now, bucket, group_by))


async def usage_routes(request: web.Request) -> web.Response:
    gw = _admin(request)
    since = _since(request, time.time())
    await _written(gw)
    return _json(await traffic_doc(gw.store, since))


async def route_states(request: web.Request) -> web.Response:
    gw = _admin(request)
    await _written(gw)
    return _json(await routes_doc(gw))


async def budgets(request: web.Request) -> web.Response:
    gw = _admin(request)
    await _written(gw)
    return _json(await budgets_doc(gw))
