"""Chat completions from the response cache (edge.rcache): answering a hit, keeping a miss.

A hit makes no upstream call: the client gets the entry's bytes (the JSON answer, or the whole
SSE stream, the same chunks as the first time) with ``x-edge-cache: hit``, and the ledger a
row with cost 0, ``cache_hit`` and, as ``saved_usd``, what the answer cost when it was made
(priced now, from its usage). Rate limits and budgets were checked before, as for any request.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.adapters.types import Usage

from ..context import RequestContext, settle
from ..gateway import Gateway
from ..rcache import HEADER, Lookup, Recorder
from ..rcache.entry import Entry
from .headers import response_headers
from .stream import sse_response

__all__ = ["answer_hit", "cache_lookup", "keep_answer", "keep_stream"]


async def cache_lookup(request: web.Request, gw: Gateway, ctx: RequestContext, body: dict[str, Any], stream: bool) -> tuple[Lookup | None, Entry | None]:
    """Whether the cache is on for this request and, if so, the entry that answers it."""
    lookup = gw.response_cache.lookup(ctx.record.public_model, ctx.principal.key_id, body, request.headers.get(HEADER), ctx.drop_params)
    if lookup is None:
        return None, None
    entry = await gw.response_cache.get(lookup, stream)
    gw.metrics.cache_result(ctx.record.public_model, "hit" if entry is not None else "miss")
    return lookup, entry


async def answer_hit(request: web.Request, gw: Gateway, ctx: RequestContext, entry: Entry) -> web.StreamResponse:
    record = ctx.record
    record.status, record.cache_hit, record.cost_usd = 200, True, 0.0
    saved = gw.prices.cost(entry.upstream_model, entry.usage)
    record.saved_usd = saved if saved is not None else None
    settle(gw, ctx)
    headers = dict(response_headers(ctx, 0.0), **{HEADER: "hit"})
    if not entry.stream:
        return web.Response(body=entry.body, content_type="application/json", headers=headers)
    response = sse_response(headers)
    await response.prepare(request)
    await response.write(entry.body)
    await response.write_eof()
    return response


def keep_answer(gw: Gateway, ctx: RequestContext, lookup: Lookup, body: bytes, usage: Usage | None) -> None:
    if gw.response_cache.put(lookup, body, False, ctx.record.upstream_model or "", usage):
        gw.metrics.cache_result(ctx.record.public_model, "stored")


def keep_stream(gw: Gateway, ctx: RequestContext, lookup: Lookup, recorder: Recorder, usage: Usage | None) -> None:
    """A stream that ended well, whole, to a client that stayed: kept as it was written."""
    record = ctx.record
    body = recorder.body()
    if body is None or record.status != 200 or record.client_disconnected:
        return
    if gw.response_cache.put(lookup, body, True, record.upstream_model or "", usage):
        gw.metrics.cache_result(record.public_model, "stored")
