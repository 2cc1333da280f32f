"""Chat completions from the response cache (edge.rcache) over HTTP: answering a hit.

A hit makes no upstream call: the client gets the entry's bytes (the JSON answer, or the whole
SSE stream, the same chunks as the first time) with ``x-edge-cache: hit``; the books are
edge.rcache.books'. Rate limits and budgets were checked before, as for any request.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from ..context import RequestContext
from ..gateway import Gateway
from ..rcache import HEADER, Lookup
from ..rcache.books import found, settle_hit
from ..rcache.entry import Entry
from .headers import response_headers
from .stream import sse_response
from .replies import json_response

__all__ = ["answer_hit", "cache_entry", "cache_lookup"]


def cache_lookup(request: web.Request, gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> Lookup | None:
    """Whether the response cache is on for this request (no await when it is off, the usual case)."""
    return gw.response_cache.lookup(ctx.record.public_model, ctx.principal.key_id, body, request.headers.get(HEADER), ctx.drop_params)


def cache_entry(gw: Gateway, ctx: RequestContext, lookup: Lookup, stream: bool) -> Awaitable[Entry | None]:
    return found(gw, ctx, lookup, stream)


async def answer_hit(request: web.Request, gw: Gateway, ctx: RequestContext, entry: Entry) -> web.StreamResponse:
    settle_hit(gw, ctx, entry)
    headers = dict(response_headers(ctx, 0.0), **{HEADER: "hit"})
    if not entry.stream:
        return json_response(request, entry.body, headers)
    response = sse_response(request, headers)
    await response.prepare(request)
    await response.write(entry.body)
    await response.write_eof()
    return response

