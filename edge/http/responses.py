"""The OpenAI Responses API: POST /v1/responses (plain and SSE), GET and DELETE
/v1/responses/{id}, GET /v1/responses/{id}/input_items, POST /v1/responses/input_tokens.

Same keys, limits, budgets, tags, routing, retries, fallbacks, cooldowns, accounting and
metrics as chat completions (ledger endpoint ``responses``): the request is read here, then
edge/responses/flow.py fits the plan (native routes get the request as sent, the others get it
bridged to chat) and the shared executor (edge/proxy.py) and relay (edge/relay.py) run it.
Errors are OpenAI envelopes (the middleware). A WebSocket upgrade on /v1/responses (Codex tries
one first, ``OpenAI-Beta: responses_websockets=...``) is answered 426 at once, so the client
falls back to HTTP. Stored responses are read with the key that made them; ``store: false``
keeps nothing (404 on retrieve).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from aiohttp import web
from msgspec import Meta, Struct

from edge.adapters.responses_wire import ResponsesWriter, base_response, usage_to_responses
from edge.adapters.types import ChatResult
from edge.errors import BadGateway, EdgeError, InvalidRequest, NotFound, UpstreamError
from edge.fastpath import jsonio, tokens

from ..client import ClientError
from ..context import settled_on_failure
from ..proxy import RequestContext, call_upstream, escalated, settle, start_stream
from ..relay import relay
from ..responses.flow import Turn, native, parse_answer, plan_turn, prepare_turn, save, stored, stored_items
from ..responses.native import NativeResponsesStream
from ..routing.checks import failed_response_check
from ..transcode import DecodedStream
from ..types import Transcoder
from .appkeys import CONTEXT, GATEWAY, REQUEST_ID
from .body import read_json
from .headers import admit_request, client_timeout, drop_params, response_headers
from .responses_stream import BridgedEnding, Ending, NativeEnding, ResponsesEncoder, ResponsesSSESink
from .replies import json_response

__all__ = ["ResponsesRequest", "create_response", "delete_response", "get_response", "input_items", "input_tokens", "websocket_refused"]

NonNegInt = Annotated[int, Meta(ge=0)]


class ResponsesRequest(Struct, omit_defaults=True):
    """POST /v1/responses: the fields the gateway reads or validates (the raw body travels on)."""

    model: Annotated[str, Meta(min_length=1)]
    input: Union[str, list[dict[str, Any]], None] = None
    instructions: str | None = None
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Union[str, dict[str, Any], None] = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: NonNegInt | None = None
    temperature: float | None = None
    top_p: float | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    include: list[str] | None = None
    background: bool | None = None
    truncation: Literal["auto", "disabled"] | None = None


class UpgradeRequired(EdgeError):
    status = 426
    type = "invalid_request_error"
    code = "upgrade_required"


async def websocket_refused(request: web.Request) -> web.StreamResponse:
    """GET /v1/responses: only ever a WebSocket attempt; the gateway speaks HTTP + SSE."""
    raise UpgradeRequired("This gateway serves the Responses API over HTTP (POST /v1/responses with stream: true), not over WebSocket.")


async def _begin(request: web.Request) -> tuple[Any, RequestContext, ResponsesRequest, dict[str, Any], Any]:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    typed, body = await read_json(request, ResponsesRequest, gw.max_body_bytes)
    if typed.background:
        raise InvalidRequest("Background responses are not supported by this gateway; send the request without background: true.", param="background")
    resolution = gw.router.resolve(typed.model)
    ctx = RequestContext(request[REQUEST_ID], principal, resolution.public_model, "responses", bool(typed.stream), timeout_s=client_timeout(request))
    ctx.drop_params = drop_params(request)
    request[CONTEXT] = ctx
    return gw, ctx, typed, body, resolution


async def create_response(request: web.Request) -> web.StreamResponse:
    if request.headers.get("upgrade", "").lower() == "websocket":
        return await websocket_refused(request)
    gw, ctx, typed, body, resolution = await _begin(request)
    turn = await prepare_turn(gw, ctx, body, resolution)
    await admit_request(request, gw, ctx, body, turn.messages)
    stream = bool(typed.stream)
    try:
        plan, build = plan_turn(gw, ctx, resolution, turn, stream)
    except EdgeError as err:  # refused before any call: one ledger row, as for chat
        ctx.record.status, ctx.record.error_type = err.status, err.type
        settle(gw, ctx)
        raise
    public = ctx.record.public_model
    if stream:
        return await _stream(request, gw, ctx, turn, plan, build)
    parse = parse_answer(turn, public, gw.request_ids.stored("resp_"))
    escalation = resolution.escalation
    if escalation is None:
        exchange = call_upstream(gw, plan, ctx, build, parse)
    else:
        # A plain answer is checked as chat's is (edge.routing.checks); a stream goes unchecked.
        async def stronger() -> ChatResult:
            fitted, fitted_build = plan_turn(gw, ctx, escalation.target, turn, False)
            return await call_upstream(gw, fitted, ctx, fitted_build, parse)

        exchange = escalated(
            gw, ctx, resolution,
            lambda: call_upstream(gw, plan, ctx, build, parse),
            stronger,
            lambda answer: failed_response_check(answer.document(), turn.body, escalation.when),
            usage_to_responses,
        )
    result = await settled_on_failure(gw, ctx, exchange)
    ctx.record.status = 200
    cost = settle(gw, ctx, result.usage)
    doc = result.document()
    body_out = gw.scrubber.bytes(jsonio.dumps(doc))
    if isinstance(doc.get("id"), str):
        save(gw, ctx, turn, doc["id"], body_out)
    return json_response(request, body_out, response_headers(ctx, cost))


async def _stream(request: web.Request, gw: Any, ctx: RequestContext, turn: Turn, plan: Any, build: Any) -> web.StreamResponse:
    upstream, target, adapter = await settled_on_failure(gw, ctx, start_stream(gw, plan, ctx, lambda a, t: (build(a, t), None)))
    public = ctx.record.public_model
    stream: Transcoder[bytes]
    ending: Ending
    passthrough: NativeResponsesStream | None = None
    if native(adapter):
        passthrough = NativeResponsesStream(public, gw.scrubber.sse, gw.scrubber.bytes)
        stream, ending = passthrough, NativeEnding(passthrough, public)
    else:
        writer = ResponsesWriter(base_response(turn.body, gw.request_ids.stored("resp_"), public))
        stream, ending = DecodedStream(adapter.stream_decoder(), ResponsesEncoder(writer, gw.scrubber.sse)), BridgedEnding(writer, gw.scrubber.sse, gw.scrubber.bytes)

    def keep(response_id: str, response: bytes) -> None:
        save(gw, ctx, turn, response_id, response)

    sink = ResponsesSSESink(request, response_headers(ctx), ending, keep if turn.body.get("store") is not False else None)
    await relay(gw, ctx, upstream, target.provider, stream, sink, lambda: _prompt_tokens(turn))
    return sink.response


def _prompt_tokens(turn: Turn) -> int:
    messages = turn.messages
    return tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0


async def _stored(request: web.Request) -> tuple[Any, list[Any]]:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    response_id = request.match_info["response_id"]
    rows = await stored(gw, gw.responses.chain(response_id, principal.key_id))
    if not rows or rows[-1].id != response_id:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    return gw, rows


async def get_response(request: web.Request) -> web.Response:
    _, rows = await _stored(request)
    return web.Response(body=rows[-1].response.encode(), content_type="application/json", headers={"x-request-id": request[REQUEST_ID]})


async def delete_response(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    principal = gw.auth.authenticate(request.headers.get("authorization"))
    response_id = request.match_info["response_id"]
    if not await stored(gw, gw.responses.delete(response_id, principal.key_id)):
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    doc = {"id": response_id, "object": "response.deleted", "deleted": True}
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def input_items(request: web.Request) -> web.Response:
    """The input the model saw for a stored response (its history's items first), paged like
    OpenAI's list endpoints: ``order`` (desc by default), ``limit`` (1-100, 20), ``after``."""
    _, rows = await _stored(request)
    items = stored_items(rows)
    query = request.query
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be asc or desc.", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("'limit' must be an integer.", param="limit") from None
    if not 1 <= limit <= 100:
        raise InvalidRequest("'limit' must be between 1 and 100.", param="limit")
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    doc = {"object": "list", "data": page, "first_id": page[0].get("id") if page else None, "last_id": page[-1].get("id") if page else None, "has_more": len(items) > limit}
    return web.Response(body=jsonio.dumps(doc), content_type="application/json")


async def input_tokens(request: web.Request) -> web.Response:
    """POST /v1/responses/input_tokens: the upstream's own count on a native route, else the
    gateway's estimate of the translated prompt (``"estimated": true``)."""
    gw, ctx, typed, body, resolution = await _begin(request)
    ctx.record.endpoint = "responses.input_tokens"
    turn = await prepare_turn(gw, ctx, body, resolution)
    targets = [t for s in resolution.stages for t in s.targets]
    target = next((t for t in targets if native(t.provider.adapter)), None)
    if target is None:
        if turn.chat is None:
            err = turn.chat_error
            raise InvalidRequest(f"Invalid request: {err}", param=err.param if err is not None else None)
        count = _prompt_tokens(turn)
        return web.Response(body=jsonio.dumps({"object": "response.input_tokens", "input_tokens": count, "estimated": True}), content_type="application/json")
    out = dict(body, model=target.upstream_model)
    upstream = target.provider.adapter.native_request("openai.responses", "/responses/input_tokens", jsonio.dumps(out), False)
    try:
        response = await target.provider.client.request(upstream.method, upstream.url, upstream.headers, upstream.body, timeout=target.provider.config.timeout_s)
    except (ClientError, TimeoutError, ValueError) as exc:
        raise BadGateway(f"Could not reach provider '{target.provider.name}' ({type(exc).__name__}).") from None
    # As every upstream answer (edge/proxy.py): the bytes are scrubbed before the adapter parses
    # and cuts them, and the error's fields (locations too) before the client sees them.
    data = gw.scrubber.bytes(response.body)
    if response.status >= 400:
        raise gw.scrubber.error(UpstreamError(target.provider.adapter.parse_error(response.status, response.headers, data), target.provider.name))
    return web.Response(body=data, content_type="application/json")
