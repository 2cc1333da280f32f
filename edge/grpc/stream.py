"""ChatStream: one upstream stream relayed as ChatChunk messages, with the HTTP stream's lifecycle.

Mirrors edge/http/chat.py ``_stream``: open_stream may fall back only before anything reached
the caller; each upstream read is decoded (the adapter's ``stream_decoder()``, or the OpenAI SSE
decoder in _openai_stream.py while OpenAIAdapter has none) and every delta is written as it
arrives. The finish reason, usage and cost travel in one last message. A failure after the first
message ends the call with an error status; a cancelled call (or a passed deadline) closes the
upstream at once. The usage record is settled exactly once, estimated when the upstream never
reported usage, with status 499 for a caller that went away and 504 for a passed deadline.
An escalating model streams from its ``from`` model unchecked, unless the caller sends
``x-edge-buffer: true`` (as over HTTP): then the checked whole answer comes as one delta.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from edge.adapters.schema import ChatRequest
from edge.adapters.types import Adapter, Chunk, StreamDecoder, Usage
from edge.client import ClientError, ReadTimeout, Response
from edge.errors import BadGateway, EdgeError, GatewayTimeout, UpstreamError
from edge.fastpath import tokens
from edge.gateway import Gateway
from edge.context import admit_checked, settled_on_failure
from edge.proxy import RequestContext, open_stream, settle
from edge.v1 import chat_pb2

from . import convert
from ._call import answer_chat, buffered, call_timeout, deadline_error, deadline_passed, route, validate
from ._openai_stream import OpenAIStreamDecoder

__all__ = ["chat_stream", "stream_decoder"]


def stream_decoder(adapter: Adapter) -> StreamDecoder:
    """The adapter's own decoder when it has one; the OpenAI SSE decoder otherwise."""
    make = getattr(adapter, "stream_decoder", None)
    return make() if make is not None else OpenAIStreamDecoder()


async def chat_stream(gw: Gateway, request: chat_pb2.ChatRequest, context: grpc.aio.ServicerContext, request_id: str, authorization: str | None) -> None:
    principal = gw.auth.authenticate(authorization)
    body = convert.chat_body(request)
    body["stream"] = True
    chat = validate(body, ChatRequest)
    resolution = gw.router.resolve(chat.model)
    ctx = RequestContext(request_id, principal, resolution.public_model, "chat", True, surface="grpc", timeout_s=call_timeout(context))
    record = ctx.record
    await admit_checked(gw, ctx, tag_header=None, metadata={**(body.get("metadata") or {}), **request.tags}, messages=body.get("messages"), body_size=request.ByteSize())
    if resolution.escalation is not None and buffered(context):
        await _buffered(gw, ctx, context, resolution, body)
        return
    upstream, target, adapter = await settled_on_failure(gw, ctx, open_stream(gw, resolution, ctx, body), lambda c: _cancelled(c, context))
    relay = _Relay(gw, ctx, context, target, stream_decoder(adapter), body)
    # The request's deadline (the caller's, or routing.timeout_s) bounds the whole stream.
    timer = asyncio.timeout(max(0.0, ctx.remaining()))
    try:
        async with timer:
            await relay.run(upstream)
    except TimeoutError:
        if not timer.expired():
            raise
        err = deadline_error()
        record.status, record.error_type = err.status, err.type
        raise err from None
    except asyncio.CancelledError:
        _cancelled(ctx, context)
        raise
    finally:
        # A finished upstream goes back to the pool; anything else is closed at once, which is
        # what stops a provider from generating (and billing) tokens nobody will read.
        if relay.completed:
            upstream.release()
        else:
            upstream.close()
            if record.status == 200:  # an unexpected exception: the servicer reports INTERNAL
                record.status, record.error_type = 500, "api_error"
        settle(gw, ctx, relay.final_usage())


async def _buffered(gw: Gateway, ctx: RequestContext, context: grpc.aio.ServicerContext, resolution: Any, body: dict[str, Any]) -> None:
    """An escalating model with ``x-edge-buffer: true``: the checked whole answer, sent as one
    delta message and the last message (as HTTP replays it as a stream)."""
    record = ctx.record
    body = {k: v for k, v in body.items() if k != "stream"}
    result = await settled_on_failure(gw, ctx, answer_chat(gw, resolution, ctx, body), lambda c: _cancelled(c, context))
    record.status = 200
    cost = settle(gw, ctx, result.usage)
    whole = convert.chat_response(result.document(), ctx.usage, route(ctx), cost, ctx.request_id)
    context.set_trailing_metadata((("x-request-id", ctx.request_id),))
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


def _cancelled(ctx: RequestContext, context: grpc.aio.ServicerContext) -> None:
    record = ctx.record
    if deadline_passed(context):
        record.status, record.error_type = 504, "timeout"
    else:
        record.status, record.client_disconnected = 499, True


class _Relay:
    """Reads the upstream body, decodes it and writes ChatChunks; remembers what it saw."""

    def __init__(self, gw: Gateway, ctx: RequestContext, context: grpc.aio.ServicerContext, target: Any, decoder: StreamDecoder, body: dict[str, Any]) -> None:
        self.gw, self.ctx, self.context, self.target, self.decoder = gw, ctx, context, target, decoder
        self.body = body
        self.completed = False
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.text_bytes = 0
        self._first = True

    async def run(self, upstream: Response) -> None:
        record, provider = self.ctx.record, self.target.provider
        record.status = 200
        # In the trailers: an explicit initial-metadata send would cost a batch of its own.
        self.context.set_trailing_metadata((("x-request-id", self.ctx.request_id),))
        failure: EdgeError | None = None
        read = upstream.read_chunk
        while failure is None:
            try:
                data = await read()
            except ReadTimeout:
                failure = GatewayTimeout(f"Provider '{provider.name}' sent nothing for {provider.config.timeout_s:g} s.")
                break
            except ClientError:
                failure = BadGateway(f"Provider '{provider.name}' broke off the stream.", code="upstream_stream_error")
                break
            if not data:
                break
            try:
                chunks = self.decoder.feed(data)
            except ValueError as exc:  # an oversized or malformed event (fastpath SSEError)
                failure = BadGateway(f"Provider '{provider.name}' sent an invalid stream: {exc}", code="upstream_stream_error")
                break
            failure = await self._relay(chunks)
        if failure is None:
            failure = await self._relay(self.decoder.flush())
        if failure is None and self.finish is None and not getattr(self.decoder, "done", False):
            failure = BadGateway(f"Provider '{provider.name}' ended the stream before it finished.", code="upstream_stream_error")
        if failure is not None:
            record.status, record.error_type = failure.status, failure.type
            self.gw.metrics.upstream_error(provider.name, "stream")
            raise failure
        usage = self.final_usage()
        last = chat_pb2.ChatChunk(finish_reason=convert.finish_reason(self.finish or "stop"), usage=convert.usage_proto(usage))
        cost = self.gw.prices.cost(record.upstream_model or "", usage)
        if cost is not None:
            last.cost_usd = cost
        await self._write(last)
        self.completed = True

    async def _relay(self, chunks: list[Chunk]) -> EdgeError | None:
        """Write what one upstream read decoded to, as one message: a grpc.aio write costs far
        more than decoding, and the deltas of one read arrived together anyway."""
        content: list[str] = []
        reasoning: list[str] = []
        refusal: list[str] = []
        calls: list[Any] = []
        failure: EdgeError | None = None
        for chunk in chunks:
            if chunk.error is not None:
                failure = UpstreamError(chunk.error, self.target.provider.name)
                break
            if chunk.usage is not None:
                self.usage = chunk.usage
            if chunk.finish_reason is not None and self.finish is None:
                self.finish = chunk.finish_reason
            if chunk.content:
                content.append(chunk.content)
            if chunk.reasoning:
                reasoning.append(chunk.reasoning)
            if chunk.refusal:
                refusal.append(chunk.refusal)
            if chunk.tool_calls:
                calls.extend(chunk.tool_calls)
        if content or reasoning or refusal or calls:
            message = chat_pb2.ChatChunk(content="".join(content), reasoning="".join(reasoning), refusal="".join(refusal))
            for call in calls:
                message.tool_calls.add(index=call.index, id=call.id or "", name=call.name or "", arguments=call.arguments)
                self.text_bytes += len(call.arguments.encode())
            self.text_bytes += len(message.content.encode()) + len(message.reasoning.encode()) + len(message.refusal.encode())
            await self._write(message)
        return failure

    async def _write(self, message: chat_pb2.ChatChunk) -> None:
        if self._first:
            self._first = False
            message.request_id = self.ctx.request_id
            message.model = self.ctx.record.public_model
            message.route.CopyFrom(route(self.ctx))
            self.ctx.record.ttft_ms = self.ctx.elapsed_ms()
        await self.context.write(message)

    def final_usage(self) -> Usage:
        """The upstream's usage; else an estimate from the prompt and what was relayed."""
        if self.usage is not None:
            return self.usage
        messages = self.body.get("messages")
        prompt = tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0
        return Usage(prompt_tokens=prompt, completion_tokens=tokens.estimate_tokens_from_bytes(self.text_bytes), estimated=True)

