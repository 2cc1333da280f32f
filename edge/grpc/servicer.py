"""edge.v1.Gateway handlers: ChatComplete, ChatStream, Embed, ListModels.

Each call goes through the same pipeline as HTTP (edge/proxy.py): auth from the
``authorization`` metadata, the OpenAI-shaped body and its msgspec schema check, the router,
``call_upstream`` / ``open_stream``, and ``settle`` for the one usage record (surface "grpc").
The caller's deadline bounds the upstream request; a cancelled call cancels the handler, which
closes the upstream at once. Errors end the call through errors.abort; anything unexpected is
logged with its request id and becomes INTERNAL, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from edge.adapters.schema import ChatRequest, EmbeddingsRequest
from edge.errors import BadGateway, EdgeError, InvalidRequest
from edge.gateway import Gateway
from edge.context import admit_checked, settled_on_failure
from edge.fastpath import jsonio
from edge.proxy import RequestContext, call_upstream, settle
from edge.rcache import HEADER as CACHE_HEADER
from edge.rcache.books import find, keep, settle_hit
from edge.v1 import chat_pb2, embeddings_pb2, models_pb2

from . import convert
from ._call import answer_chat, cache_header, call_metadata, call_timeout, cancel_outcome, deadline_passed, drop_params, route, trailers, validate
from .errors import abort, grpc_code
from .tracing import end_server_span, server_span, status_name
from .stream import chat_stream

__all__ = ["SERVICE", "GatewayServicer"]

log = logging.getLogger("edge.grpc")

SERVICE = "edge.v1.Gateway"
# A fixed creation time, as on GET /v1/models: these are routes, not trained artifacts.
_CREATED = 1735689600

R = TypeVar("R")
Handler = Callable[[Any, grpc.aio.ServicerContext, str, "str | None"], Awaitable[R]]


class GatewayServicer:
    """One per worker, around that worker's Gateway (shared with the HTTP app)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    # Each public method is what grpc.aio calls; ``request`` is None when the bytes were not a
    # valid message of the method's type (server.py installs lenient deserializers).

    async def ChatComplete(self, request: chat_pb2.ChatRequest | None, context: grpc.aio.ServicerContext) -> chat_pb2.ChatResponse:
        return await self._run(self._complete, request, context, "ChatComplete")

    async def ChatStream(self, request: chat_pb2.ChatRequest | None, context: grpc.aio.ServicerContext) -> None:
        async def run(req: chat_pb2.ChatRequest, ctx: grpc.aio.ServicerContext, rid: str, authorization: str | None) -> None:
            await chat_stream(self.gw, req, ctx, rid, authorization)

        await self._run(run, request, context, "ChatStream")

    async def Embed(self, request: embeddings_pb2.EmbedRequest | None, context: grpc.aio.ServicerContext) -> embeddings_pb2.EmbedResponse:
        return await self._run(self._embed, request, context, "Embed")

    async def ListModels(self, request: models_pb2.ListModelsRequest | None, context: grpc.aio.ServicerContext) -> models_pb2.ListModelsResponse:
        return await self._run(self._models, request, context, "ListModels")

    async def _run(self, handler: Handler[R], request: Any, context: grpc.aio.ServicerContext, method: str) -> R:
        gw = self.gw
        request_id, authorization = call_metadata(context, gw)
        if authorization is not None and gw.auth.needs_lookup(authorization):
            await gw.auth.lookup(authorization)  # a key made on another instance just now
        # The call's server span (OpenTelemetry RPC conventions), when tracing is on.
        trace = server_span(gw.tracing, context, SERVICE, method) if gw.tracing is not None else None
        code = "OK"
        try:
            if request is None:
                raise InvalidRequest("The request is not a valid protobuf message for this method.", code="invalid_message")
            return await handler(request, context, request_id, authorization)
        except EdgeError as err:
            code = grpc_code(err.status).name
            await abort(context, err, request_id)
        except asyncio.CancelledError:
            code = "DEADLINE_EXCEEDED" if deadline_passed(context) else "CANCELLED"
            raise
        except grpc.aio.AbortError:
            code = status_name(context)
            raise
        except Exception:
            code = "INTERNAL"
            log.exception("unhandled error in gRPC call (request %s)", request_id)
            await abort(context, EdgeError(f"Internal gateway error; quote request id {request_id} when reporting it."), request_id)
        finally:
            if trace is not None:
                end_server_span(gw.tracing, trace, code, request_id)
        raise AssertionError("unreachable: abort raises")

    # -- unary calls ----------------------------------------------------------------------

    async def _complete(self, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext, request_id: str, authorization: str | None) -> chat_pb2.ChatResponse:
        gw = self.gw
        principal = gw.auth.authenticate(authorization)
        body = convert.chat_body(request)
        chat = validate(body, ChatRequest)
        resolution = gw.router.resolve(chat.model)
        ctx = RequestContext(request_id, principal, resolution.public_model, "chat", False, surface="grpc", timeout_s=call_timeout(context))
        ctx.drop_params = drop_params(context)
        # The size for the token estimate: ByteSize encodes the message (O(n)), so only for a token limit.
        await admit_checked(gw, ctx, tag_header=None, metadata={**(body.get("metadata") or {}), **request.tags}, messages=body.get("messages"), body_size=request.ByteSize() if principal.tpm else 0)
        # The response cache (edge.rcache): the same entries as HTTP's plain answers.
        lookup, entry = await find(gw, ctx, body, cache_header(context), False)
        if entry is not None:
            settle_hit(gw, ctx, entry)
            context.set_trailing_metadata((*trailers(ctx), (CACHE_HEADER, "hit")))
            return convert.chat_response(jsonio.loads(entry.body), entry.usage, route(ctx), 0.0, request_id)
        result = await self._settled(context, ctx, answer_chat(gw, resolution, ctx, body))
        cost = settle(gw, ctx, result.usage)
        try:
            # ctx.usage: after settle, the whole request's usage (both calls of an escalation).
            response = convert.chat_response(result.document(), ctx.usage, route(ctx), cost, request_id)
        except (ValueError, TypeError) as exc:
            raise BadGateway(f"Provider '{ctx.record.provider}' returned a chat completion that does not fit edge.v1 ({type(exc).__name__}).", code="upstream_invalid_response") from None
        marks: tuple[tuple[str, str], ...] = ()
        if lookup is not None:
            keep(gw, ctx, lookup, gw.scrubber.bytes(result.body), False, ctx.usage)
            marks = ((CACHE_HEADER, "miss"),)
        # In the trailers: an explicit initial-metadata send costs a batch (~100 us) of its own.
        context.set_trailing_metadata((*trailers(ctx), *marks))
        return response

    async def _embed(self, request: embeddings_pb2.EmbedRequest, context: grpc.aio.ServicerContext, request_id: str, authorization: str | None) -> embeddings_pb2.EmbedResponse:
        gw = self.gw
        principal = gw.auth.authenticate(authorization)
        body = convert.embed_body(request)
        typed = validate(body, EmbeddingsRequest)
        problem = typed.input_error()
        if problem is not None:
            raise InvalidRequest(problem, param="input")
        resolution = gw.router.resolve(typed.model)
        ctx = RequestContext(request_id, principal, resolution.public_model, "embeddings", False, surface="grpc", timeout_s=call_timeout(context))
        messages = [{"role": "user", "content": body["input"]}] if isinstance(body.get("input"), str) else None
        # The size for the token estimate: ByteSize encodes the message (O(n)), so only for a token limit.
        await admit_checked(gw, ctx, tag_header=None, metadata=dict(request.tags), messages=messages, body_size=request.ByteSize() if principal.tpm else 0)
        exchange = call_upstream(
            gw,
            resolution,
            ctx,
            lambda adapter, target: adapter.embeddings_request(body, target.upstream_model),
            lambda adapter, data: adapter.parse_embeddings(data, resolution.public_model),
        )
        result = await self._settled(context, ctx, exchange)
        cost = settle(gw, ctx, result.usage)
        try:
            response = convert.embed_response(result.document(), ctx.usage, route(ctx), cost, request_id)
        except (ValueError, TypeError) as exc:
            raise BadGateway(f"Provider '{ctx.record.provider}' returned embeddings that do not fit edge.v1 ({type(exc).__name__}).", code="upstream_invalid_response") from None
        context.set_trailing_metadata((("x-request-id", request_id),))
        return response

    async def _settled(self, context: grpc.aio.ServicerContext, ctx: RequestContext, exchange: Awaitable[R]) -> R:
        """Await the upstream exchange; every outcome but success is settled (recorded) here."""
        record = ctx.record
        outcome = cancel_outcome(context)

        def cancelled(c: RequestContext) -> None:
            c.record.status, c.record.error_type, c.record.client_disconnected = outcome()

        result = await settled_on_failure(self.gw, ctx, exchange, cancelled)
        record.status = 200
        return result

    async def _models(self, request: models_pb2.ListModelsRequest, context: grpc.aio.ServicerContext, request_id: str, authorization: str | None) -> models_pb2.ListModelsResponse:
        gw = self.gw
        gw.auth.authenticate(authorization)
        # The same catalogue as GET /v1/models (edge/http/models.py).
        out = models_pb2.ListModelsResponse()
        for name in gw.router.public_models:
            out.models.add(id=name, owned_by="llm-edge", created=_CREATED)
        if gw.config.allow_passthrough:
            for provider_name, provider in gw.providers.items():
                for upstream in await provider.upstream_models():
                    out.models.add(id=f"{provider_name}/{upstream}", owned_by=provider_name, created=_CREATED)
        return out
