"""POST /v1/embeddings, per the OpenAI embeddings API (wire-formats.md section 1.8)."""

from __future__ import annotations

from aiohttp import web

from edge.adapters._common import embeddings_as_base64
from edge.adapters.schema import EmbeddingsRequest
from edge.adapters.types import Adapter, ChatResult
from edge.errors import InvalidRequest

from ..context import settled_on_failure
from ..proxy import RequestContext, call_upstream, settle
from .body import read_json
from .headers import admit_request, client_timeout, response_headers
from .appkeys import CONTEXT, GATEWAY, REQUEST_ID
from .replies import json_response

__all__ = ["embeddings"]


async def embeddings(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    typed, body = await read_json(request, EmbeddingsRequest, gw.max_body_bytes)
    problem = typed.input_error()
    if problem is not None:
        raise InvalidRequest(problem, param="input")
    resolution = gw.router.resolve(typed.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "embeddings", False, timeout_s=client_timeout(request))
    request[CONTEXT] = ctx
    await admit_request(request, gw, ctx, body, [{"role": "user", "content": body["input"]}] if isinstance(body.get("input"), str) else None)

    def parse(adapter: Adapter, data: bytes) -> ChatResult:
        result = adapter.parse_embeddings(data, resolution.public_model)
        # encoding_format base64 for an upstream that answers floats only (Gemini).
        return embeddings_as_base64(result) if typed.encoding_format == "base64" else result

    exchange = call_upstream(
        gw,
        resolution,
        ctx,
        lambda adapter, target: adapter.embeddings_request(body, target.upstream_model),
        parse,
    )
    result = await settled_on_failure(gw, ctx, exchange)
    ctx.record.status = 200
    cost = settle(gw, ctx, result.usage)
    return json_response(request, gw.scrubber.bytes(result.body), response_headers(ctx, cost))
