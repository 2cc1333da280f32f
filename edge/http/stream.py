"""Streamed chat completions (SSE) per the OpenAI chat API: the chat surface's stream sink.

The relay (edge/relay.py) does the streaming; this module gives it the OpenAI chat SSE sink and
picks the transcoder: the byte pass-through when the adapter speaks OpenAI chat
(``OPENAI_CHAT in adapter.passthrough``: model shown as the public name, the usage chunk only for
clients that asked, role on the first chunk), else the adapter's decoder with the OpenAI chunk
encoder (edge/egress.py). The sink ends a good stream with ``data: [DONE]`` and a failed one with
a final ``data: {"error": ...}`` event (the SDKs raise on it). A client that disconnects cancels
the handler (aiohttp), which closes the upstream at once; the relay still records the usage.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from edge.adapters._common import usage_dict
from edge.adapters.schema import ChatRequest
from edge.adapters.types import OPENAI_CHAT, Usage
from edge.egress import OpenAIChunkEncoder
from edge.errors import EdgeError, GatewayTimeout, error_event
from edge.fastpath import jsonio, tokens
from edge.gateway import Gateway
from edge.router import Resolution

from ..context import settled_on_failure
from ..proxy import RequestContext, open_stream
from ..rcache import Recorder
from ..relay import relay
from ..server.request import LeanRequest
from ..transcode import DecodedStream, PassthroughStream
from ..types import StreamState, Transcoder
from .headers import response_headers

__all__ = ["ChatSSESink", "replay_as_stream", "sse_response", "stream_chat"]

DONE = b"data: [DONE]\n\n"


def sse_response(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    """The stream's response: aiohttp's, or edge.server's for a request it read (same methods)."""
    headers = {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        # Tell nginx-style proxies in front of us not to buffer the stream.
        "x-accel-buffering": "no",
        **headers,
    }
    if isinstance(request, LeanRequest):
        return request.stream_response(200, headers)
    return web.StreamResponse(status=200, headers=headers)


class ChatSSESink:
    """OpenAI chat SSE to an aiohttp client: events as they come, then [DONE] or the error.

    A client that asked for ``stream_options.include_usage`` always gets the usage chunk: when
    the upstream sent none (Anthropic's OpenAI layer, for one), the ending writes the relay's
    estimate, with ``"estimated": true`` in the usage object. A trailer would be the other place
    to say so, but HTTP/1.1 trailers need chunked framing that aiohttp's StreamResponse does not
    write and the SDKs never read; an extra field in ``usage`` reaches every client (the OpenAI
    SDKs keep unknown fields: ``chunk.usage.estimated``) and is where the number is.
    """

    def __init__(self, request: web.Request, headers: dict[str, str], include_usage: bool = False, public_model: str = "", request_id: str = "", recorder: Recorder | None = None) -> None:
        self._request = request
        self.response = sse_response(request, headers)
        self.write: Callable[[bytes], Awaitable[None]] = self.response.write
        self._recorder = recorder
        if recorder is not None:  # the response cache keeps what the client got (edge.rcache)
            self.write = self._recorded
        self._include_usage = include_usage
        self._public_model = public_model
        self._request_id = request_id

    async def begin(self) -> None:
        await self.response.prepare(self._request)

    async def _recorded(self, data: bytes) -> None:
        assert self._recorder is not None
        self._recorder.add(data)
        await self.response.write(data)

    async def end(self, state: StreamState, usage: Usage) -> None:
        last = self._estimated_usage(usage) + DONE if self._include_usage and state.usage is None else DONE
        if self._recorder is not None:
            self._recorder.add(last)
        # With the final chunk of the chunked framing: one write (one send) ends the stream.
        await self.response.write_eof(last)

    def _estimated_usage(self, usage: Usage) -> bytes:
        rid = self._request_id or "edge"
        chunk = {
            "id": rid if rid.startswith("chatcmpl-") else "chatcmpl-" + rid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self._public_model,
            "choices": [],
            "usage": dict(usage_dict(usage), estimated=True),
        }
        return b"data: " + jsonio.dumps(chunk) + b"\n\n"

    async def fail(self, failure: EdgeError, *, shown: bool) -> None:
        await self.response.write_eof(b"" if shown else error_event(failure))

    def deadline_error(self) -> EdgeError:
        return GatewayTimeout("The request's deadline passed while the answer was streaming.", code="deadline_exceeded")

    def cancelled(self) -> tuple[int, str | None, bool]:
        return 499, None, True  # aiohttp cancels the handler when the client goes away


async def stream_chat(request: web.Request, gw: Gateway, ctx: RequestContext, chat: ChatRequest, body: dict[str, Any], plan: Resolution, recorder: Recorder | None = None, extra_headers: dict[str, str] | None = None) -> web.StreamResponse:
    upstream, target, adapter = await settled_on_failure(gw, ctx, open_stream(gw, plan, ctx, body))
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    public = ctx.record.public_model
    stream: Transcoder[bytes]
    if OPENAI_CHAT in adapter.passthrough:
        stream = PassthroughStream(public, include_usage, gw.scrubber.sse)
    else:
        stream = DecodedStream(adapter.stream_decoder(), OpenAIChunkEncoder(public, include_usage, ctx.request_id, scrub=gw.scrubber.sse))
    headers = response_headers(ctx)
    if extra_headers:
        headers.update(extra_headers)
    sink = ChatSSESink(request, headers, include_usage, public, ctx.request_id, recorder)
    await relay(gw, ctx, upstream, target.provider, stream, sink, lambda: _prompt_tokens(body))
    return sink.response


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    return tokens.estimate_prompt_tokens(messages) if isinstance(messages, list) else 0


async def replay_as_stream(request: web.Request, completion: bytes, include_usage: bool, headers: dict[str, str]) -> web.StreamResponse:
    """Send a finished chat.completion as an OpenAI stream (buffered escalation)."""
    doc = jsonio.loads(completion)
    base = {"id": doc.get("id"), "object": "chat.completion.chunk", "created": doc.get("created"), "model": doc.get("model")}
    frames = []
    for choice in doc.get("choices") or []:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        for key in ("refusal", "reasoning_content"):
            if message.get(key):
                delta[key] = message[key]
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
        frames.append(dict(base, choices=[{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]))
        frames.append(dict(base, choices=[{"index": choice.get("index", 0), "delta": {}, "finish_reason": choice.get("finish_reason")}]))
    if include_usage and doc.get("usage"):
        frames.append(dict(base, choices=[], usage=doc["usage"]))
    response = sse_response(request, headers)
    await response.prepare(request)
    await response.write_eof(b"".join(b"data: " + jsonio.dumps(f) + b"\n\n" for f in frames) + DONE)
    return response

