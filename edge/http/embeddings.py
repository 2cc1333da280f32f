"""POST /v1/embeddings, per the OpenAI embeddings API (wire-formats.md section 1.8)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from edge.adapters.schema import EmbeddingsRequest
from edge.errors import EdgeError, InvalidRequest

from ..proxy import RequestContext, call_upstream, settle
from .body import read_json
from .keys import GATEWAY, REQUEST_ID

__all__ = ["embeddings"]


async def embeddings(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    typed, body = await read_json(request, EmbeddingsRequest, gw.max_body_bytes)
    problem = typed.input_error()
    if problem is not None:
        raise InvalidRequest(problem, param="input")
    resolution = gw.router.resolve(typed.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "embeddings", False)
    try:
        result = await call_upstream(
            gw,
            resolution.ordered(gw.router.rng),
            ctx,
            lambda adapter, target: adapter.embeddings_request(body, target.upstream_model),
            lambda adapter, data: adapter.parse_embeddings(data, resolution.public_model),
        )
    except EdgeError as err:
        ctx.record.status, ctx.record.error_type = err.status, err.type
        settle(gw, ctx, None)
        raise
    except asyncio.CancelledError:
        ctx.record.status = 499
        settle(gw, ctx, None)
        raise
    ctx.record.status = 200
    cost = settle(gw, ctx, result.usage)
    headers = {"x-edge-route": f"{ctx.record.provider}/{ctx.record.upstream_model}"}
    if cost is not None:
        headers["x-edge-cost-usd"] = f"{cost:.8f}"
    return web.Response(body=result.body, content_type="application/json", headers=headers)
