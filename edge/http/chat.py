"""POST /v1/chat/completions, per the OpenAI chat API: routing, escalation, the plain answer.

Streams are written by edge.http.stream. A model with ``escalate`` answers with its ``from``
model and, when that answer fails a check (edge.routing.checks), with its ``to`` model; the
client sees one answer whose usage covers both calls. Streamed requests to such a model are
checked only when the client opts into buffering (header ``x-edge-buffer: true``); otherwise they
stream from ``from`` unchecked. Where the response cache is on (edge.rcache, edge.http.cached), a
hit is answered before any of that, and a miss's answer is kept once it came whole.
"""

from __future__ import annotations


from aiohttp import web

from edge.adapters.schema import ChatRequest

from ..context import settled_on_failure
from ..proxy import RequestContext, answer_chat, settle
from ..rcache import HEADER as CACHE_HEADER
from ..rcache.books import keep
from .body import read_json
from .headers import admit_request, client_timeout, drop_params, response_headers
from .appkeys import CONTEXT, GATEWAY, REQUEST_ID
from .cached import answer_hit, cache_entry, cache_lookup
from .stream import replay_as_stream, stream_chat
from .replies import json_response

__all__ = ["chat_completions"]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    chat, body = await read_json(request, ChatRequest, gw.max_body_bytes)
    resolution = gw.router.resolve(chat.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "chat", bool(chat.stream), timeout_s=client_timeout(request))
    ctx.drop_params = drop_params(request)
    request[CONTEXT] = ctx
    await admit_request(request, gw, ctx, body, body.get("messages"))
    buffered = resolution.escalation is not None and request.headers.get("x-edge-buffer", "").lower() in ("1", "true", "yes")
    lookup = None if buffered and chat.stream else cache_lookup(request, gw, ctx, body)
    if lookup is not None:
        entry = await cache_entry(gw, ctx, lookup, bool(chat.stream))
        if entry is not None:
            return await answer_hit(request, gw, ctx, entry)
    marked = {CACHE_HEADER: "miss"} if lookup is not None else None
    if chat.stream and not buffered:
        recorder = gw.response_cache.recorder() if lookup is not None and lookup.key else None
        response = await stream_chat(request, gw, ctx, chat, body, resolution, recorder, marked)
        if recorder is not None and lookup is not None:
            keep(gw, ctx, lookup, recorder.body(), True, ctx.usage)
        return response
    result = await settled_on_failure(gw, ctx, answer_chat(gw, resolution, ctx, body))
    ctx.record.status = 200
    cost = settle(gw, ctx, result.usage)
    headers = response_headers(ctx, cost)
    body_out = gw.scrubber.bytes(result.body)  # an upstream may echo its key in an answer too
    if marked is not None and lookup is not None:
        headers.update(marked)
        keep(gw, ctx, lookup, body_out, False, ctx.usage)
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return await replay_as_stream(request, body_out, include_usage, headers)
    return json_response(request, body_out, headers)
