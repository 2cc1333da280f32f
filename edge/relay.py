"""One stream relay for every client surface: an open upstream stream to a client, to the end.

The surface opens the stream (edge.proxy.open_stream: routing may still move to another route
until an upstream answered 200), then hands the relay the upstream response, a ``Transcoder``
(edge.transcode) and its ``StreamSink`` (edge/types.py). The relay owns the rest, the same for
HTTP, gRPC and the dialects to come:

- the pump: each upstream read is transcoded and written as it arrives (back-pressure: the next
  read waits for the write), the time to first token recorded at the first write;
- deadlines: the request's deadline bounds the whole stream (one timer, edge.deadline); the
  upstream client bounds the first byte and each idle gap (provider ``timeout_s``);
- the ending: a good end gets the encoder's tail and the sink's last words; an upstream that
  fails, sends something broken, reports an error in the stream or stops before it finished gets
  one final error event (or status) and a 502/504 in the record;
- the route: a finished upstream goes back to the pool, anything else is closed at once, which is
  what stops a provider from generating (and billing) tokens nobody will read;
- the books: one settle, with the upstream's usage, or an estimate from the prompt and what was
  relayed when it never reported any (a cut stream, a client that went away), marked estimated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from edge.adapters.types import Usage
from edge.fastpath import tokens

from .client import ClientError, ReadTimeout, Response, ResponseTooLarge
from .context import RequestContext, settle
from .deadline import Deadline
from .errors import BadGateway, EdgeError, GatewayTimeout, UpstreamError
from .gateway import Gateway
from .providers import Provider
from .types import Out, StreamSink, StreamState, Transcoder

__all__ = ["estimated_usage", "relay"]


async def relay(gw: Gateway, ctx: RequestContext, upstream: Response, provider: Provider, stream: Transcoder[Out], sink: StreamSink[Out], prompt_tokens: Callable[[], int]) -> None:
    """Relay ``upstream`` through ``stream`` to ``sink`` and settle the request once.

    ``prompt_tokens`` estimates the prompt, called only when the upstream reported no usage.
    A sink's ``fail`` may raise (gRPC ends the call with the error's status): it propagates.
    """
    record = ctx.record
    record.status = 200
    completed = False
    usage: Usage | None = None
    try:
        await sink.begin()
        failure: EdgeError | None = None
        timer = Deadline(upstream.loop, ctx.remaining())
        try:
            async with timer:
                failure = await _pump(upstream, stream, sink, ctx, provider)
        except TimeoutError:
            if not timer.expired():
                raise
            failure = sink.deadline_error()
        state = stream.final()
        if failure is None and state.error is not None:
            failure = UpstreamError(state.error, provider.name)
        if failure is None and not state.ended:
            failure = BadGateway(f"Provider '{provider.name}' ended the stream before it finished.", code="upstream_stream_error")
        if failure is not None:
            if state.error is not None and isinstance(failure, UpstreamError):
                # The upstream said it failed mid-answer: whatever its status, the gateway got
                # a broken stream (the client sees the upstream's own words).
                record.status, record.error_type = 502, "upstream_stream_error"
            else:
                record.status, record.error_type = failure.status, failure.type
            gw.metrics.upstream_error(provider.name, "stream")
            await sink.fail(gw.scrubber.error(failure), shown=state.error_forwarded)
        else:
            tail = stream.tail()
            if tail:
                await sink.write(tail)
            usage = estimated_usage(state, prompt_tokens)
            await sink.end(state, usage)
            completed = True
    except ConnectionResetError:  # the client went away while we wrote
        record.status, record.client_disconnected = 499, True
    except asyncio.CancelledError:
        record.status, record.error_type, record.client_disconnected = sink.cancelled()
        raise
    finally:
        if completed:
            upstream.release()
        else:
            upstream.close()
            if record.status == 200:  # an unexpected exception; the surface reports it as internal
                record.status, record.error_type = 500, "api_error"
        final = stream.final()
        settle(gw, ctx, usage if usage is not None else estimated_usage(final, prompt_tokens), final.finish_reason)


async def _pump(upstream: Response, stream: Transcoder[Out], sink: StreamSink[Out], ctx: RequestContext, provider: Provider) -> EdgeError | None:
    """Forward until the upstream body ends or the stream must stop; the failure, if any."""
    record = ctx.record
    state = stream.state
    read, feed, write = upstream.read_chunk, stream.feed, sink.write
    name = provider.name
    while True:
        # Only reading the upstream is guarded here; a failed write to our client raises
        # ConnectionResetError straight to the caller, so the two are never confused.
        try:
            data = await read()
        except ReadTimeout:
            return GatewayTimeout(f"Provider '{name}' sent nothing for {provider.config.timeout_s:g} s.")
        except ResponseTooLarge as exc:  # our own words, no address: over max_stream_mb, or endless framing
            return BadGateway(f"Provider '{name}' sent a stream over a limit: {exc}.", code="upstream_stream_error")
        except ClientError:
            return BadGateway(f"Provider '{name}' broke off the stream.", code="upstream_stream_error")
        if not data:
            break
        try:
            out = feed(data)
        except ValueError as exc:  # an oversized SSE event (fastpath SSEError)
            return BadGateway(f"Provider '{name}' sent an invalid stream: {exc}", code="upstream_stream_error")
        if out:  # what came before a broken or failed event is good: it is written first
            if record.ttft_ms is None:
                record.ttft_ms = ctx.elapsed_ms()
            await write(out)
        if state.malformed:
            return _malformed(name)
        if state.error is not None:
            return None  # the relay ends it with the upstream's error
    try:
        out = stream.flush()
    except ValueError as exc:
        return BadGateway(f"Provider '{name}' sent an invalid stream: {exc}", code="upstream_stream_error")
    if out:
        await write(out)
    if state.malformed:  # e.g. half an event left when the upstream cut the stream
        return _malformed(name)
    return None


def _malformed(provider: str) -> BadGateway:
    return BadGateway(f"Provider '{provider}' sent a stream chunk that is not valid JSON.", code="upstream_stream_error")


def estimated_usage(state: StreamState, prompt_tokens: Callable[[], int]) -> Usage:
    """The upstream's usage; else an estimate from the prompt and the text relayed, marked."""
    if state.usage is not None:
        return state.usage
    return Usage(prompt_tokens=prompt_tokens(), completion_tokens=tokens.estimate_tokens_from_bytes(state.text_bytes), estimated=True)
