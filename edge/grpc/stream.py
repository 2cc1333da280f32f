"""ChatStream: the gRPC surface's stream sink and encoder (edge.v1 ChatChunk messages).

The relay (edge/relay.py) does the streaming, as for HTTP: open_stream may fall back only before
anything reached the caller; the adapter's decoder turns each upstream read into normalized
chunks, which ``ChatChunkEncoder`` merges into one message (a grpc.aio write costs far more than
decoding, and the deltas of one read arrived together anyway). The finish reason, usage and cost
travel in one last message. A failure after the first message ends the call with the error's
status; a cancelled call (or a passed deadline) closes the upstream at once and is recorded as
499 or 504. An escalating model streams from its ``from`` model unchecked, unless the caller
sends ``x-edge-buffer: true`` (as over HTTP): then the checked whole answer comes as one delta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from edge.adapters.schema import ChatRequest
from edge.adapters.types import Chunk, Usage
from edge.context import admit_checked, settled_on_failure
from edge.errors import EdgeError
from edge.fastpath import tokens
from edge.gateway import Gateway
from edge.proxy import RequestContext, open_stream, settle
from edge.relay import relay
from edge.transcode import DecodedStream
from edge.types import StreamState
from edge.v1 import chat_pb2

from . import convert
from ._call import answer_chat, buffered, call_timeout, cancel_outcome, deadline_error, drop_params, route, trailers, validate

__all__ = ["ChatChunkEncoder", "GrpcChatSink", "chat_stream"]


async def chat_stream(gw: Gateway, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext, request_id: str, authorization: str | None) -> None:
    principal = gw.auth.authenticate(authorization)
    body = convert.chat_body(request)
    body["stream"] = True
    chat = validate(body, ChatRequest)
    resolution = gw.router.resolve(chat.model)
    ctx = RequestContext(request_id, principal, resolution.public_model, "chat", True, surface="grpc", timeout_s=call_timeout(context))
    ctx.drop_params = drop_params(context)
    # The size for the token estimate: ByteSize encodes the message (O(n)), so only for a token limit.
    await admit_checked(gw, ctx, tag_header=None, metadata={**(body.get("metadata") or {}), **request.tags}, messages=body.get("messages"), body_size=request.ByteSize() if principal.tpm else 0)
    if resolution.escalation is not None and buffered(context):
        await _buffered(gw, ctx, context, resolution, body)
        return
    on_cancel = cancel_outcome(context)
    upstream, target, adapter = await settled_on_failure(gw, ctx, open_stream(gw, resolution, ctx, body), lambda c: _record(c, on_cancel()))
    stream = DecodedStream(adapter.stream_decoder(), ChatChunkEncoder(gw.scrubber.text))
    await relay(gw, ctx, upstream, target.provider, stream, GrpcChatSink(gw, ctx, context), lambda: _prompt_tokens(body))


def _record(ctx: RequestContext, outcome: tuple[int, str | None, bool]) -> None:
    record = ctx.record
    record.status, record.error_type, record.client_disconnected = outcome


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    return tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0


async def _buffered(gw: Gateway, ctx: RequestContext, context: grpc.aio.ServicerContext, resolution: Any, body: dict[str, Any]) -> None:
    """An escalating model with ``x-edge-buffer: true``: the checked whole answer, sent as one
    delta message and the last message (as HTTP replays it as a stream)."""
    record = ctx.record
    body = {k: v for k, v in body.items() if k != "stream"}
    on_cancel = cancel_outcome(context)
    result = await settled_on_failure(gw, ctx, answer_chat(gw, resolution, ctx, body), lambda c: _record(c, on_cancel()))
    record.status = 200
    cost = settle(gw, ctx, result.usage)
    whole = convert.chat_response(result.document(), ctx.usage, route(ctx), cost, ctx.request_id)
    context.set_trailing_metadata(trailers(ctx))
    first = chat_pb2.ChatChunk(request_id=ctx.request_id, model=record.public_model, route=whole.route)
    choice = whole.choices[0] if whole.choices else chat_pb2.Choice()
    message = choice.message
    first.content, first.reasoning, first.refusal = message.content, message.reasoning, message.refusal
    for index, call in enumerate(message.tool_calls):
        first.tool_calls.add(index=index, id=call.id, name=call.name, arguments=call.arguments)
    await context.write(first)
    last = chat_pb2.ChatChunk(finish_reason=choice.finish_reason, usage=whole.usage)
    if whole.HasField("cost_usd"):
        last.cost_usd = whole.cost_usd
    await context.write(last)


class ChatChunkEncoder:
    """The chunks of one upstream read -> one ChatChunk with their deltas (None when empty);
    ``scrub`` takes configured secrets out of the provider's text (edge.scrub)."""

    def __init__(self, scrub: Callable[[str], str] | None = None) -> None:
        self._scrub = scrub if scrub is not None else _same

    def encode(self, chunks: list[Chunk]) -> chat_pb2.ChatChunk | None:
        content: list[str] = []
        reasoning: list[str] = []
        refusal: list[str] = []
        message: chat_pb2.ChatChunk | None = None
        for chunk in chunks:
            if chunk.content:
                content.append(chunk.content)
            if chunk.reasoning:
                reasoning.append(chunk.reasoning)
            if chunk.refusal:
                refusal.append(chunk.refusal)
            if chunk.tool_calls:
                if message is None:
                    message = chat_pb2.ChatChunk()
                for call in chunk.tool_calls:
                    message.tool_calls.add(index=call.index, id=call.id or "", name=call.name or "", arguments=self._scrub(call.arguments))
        if not (content or reasoning or refusal or message is not None):
            return None
        if message is None:
            message = chat_pb2.ChatChunk()
        scrub = self._scrub
        message.content, message.reasoning, message.refusal = scrub("".join(content)), scrub("".join(reasoning)), scrub("".join(refusal))
        return message

    def tail(self, state: StreamState) -> None:
        return None  # the last message (finish, usage, cost) is the sink's


def _same(text: str) -> str:
    return text


class GrpcChatSink:
    """ChatChunk messages to a grpc.aio call; the first names the request, model and route."""

    def __init__(self, gw: Gateway, ctx: RequestContext, context: grpc.aio.ServicerContext) -> None:
        self._gw, self._ctx, self._context = gw, ctx, context
        self._first = True
        self._on_cancel = cancel_outcome(context)
        self.write = self._write

    async def begin(self) -> None:
        # In the trailers: an explicit initial-metadata send would cost a batch of its own.
        self._context.set_trailing_metadata(trailers(self._ctx))

    async def _write(self, message: chat_pb2.ChatChunk) -> None:
        if self._first:
            self._first = False
            ctx = self._ctx
            message.request_id = ctx.request_id
            message.model = ctx.record.public_model
            message.route.CopyFrom(route(ctx))
        await self._context.write(message)

    async def end(self, state: StreamState, usage: Usage) -> None:
        last = chat_pb2.ChatChunk(finish_reason=convert.finish_reason(state.finish_reason or "stop"), usage=convert.usage_proto(usage))
        cost = self._gw.prices.cost(self._ctx.record.upstream_model or "", usage)
        if cost is not None:
            last.cost_usd = cost
        await self._write(last)

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        raise failure  # the servicer ends the call with the error's status and details

    def deadline_error(self) -> EdgeError:
        return deadline_error()

    def cancelled(self) -> tuple[int, str | None, bool]:
        return self._on_cancel()
