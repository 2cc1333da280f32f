"""GET /v1/usage: the ledger report as JSON, for the admin key only (edge.usage).

Query: ``since`` (``7d`` by default; a span or a UTC date) and ``group_by`` (``model`` by
default; ``key``, ``provider``, ``day`` or ``tag:<name>``). The body is what ``edge usage
--json`` prints. Without an admin key configured nobody may read it, anonymous callers
included: the answer is 403 saying so.
"""

from __future__ import annotations

from aiohttp import web

from edge.errors import InvalidRequest
from edge.fastpath import jsonio
from edge.store import check_grouping
from edge.usage import build_report, parse_since

from .appkeys import GATEWAY

__all__ = ["usage_report"]


async def usage_report(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    # 403 admin_disabled when keys.admin is unset (anonymous callers included), 401 for a
    # missing or unknown key, 403 admin_required for any other gateway key.
    gw.auth.require_admin(request.headers.get("authorization"))
    try:
        since = parse_since(request.query.get("since", "7d"))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None
    group_by = request.query.get("group_by", "model")
    try:
        check_grouping(group_by)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="group_by") from None
    # Rows this worker still holds go in first, so a report right after a request counts it.
    await gw.ledger.flush()
    await gw.store.sync()
    report = await build_report(gw.store, since, group_by)
    return web.Response(body=jsonio.dumps(report), content_type="application/json")
