"""Normalized chunks -> OpenAI ``chat.completion.chunk`` SSE, for translating adapters.

The OpenAI chat surface's ``EventEncoder`` (edge/types.py): edge.transcode.DecodedStream feeds it
the chunks of each upstream read. Shapes follow the OpenAI spec and recorded OpenAI streams
(shared/reference/wire-formats.md sections 1.5 and 6):

- the first chunk carries ``delta.role: "assistant"`` and ``content: ""``;
- reasoning text goes in ``delta.reasoning_content`` (DeepSeek's name), never in ``content``;
- a tool call's first fragment carries index, id, type and name; later ones only arguments;
- the finish reason comes in its own chunk with an empty delta, once;
- usage is shown as a last chunk with ``choices: []`` only when the client asked
  (stream_options.include_usage); the relay always reads it from the stream state.
Errors never reach the encoder: the relay ends the stream with the error event, and
``data: [DONE]`` is the sink's to write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge.adapters._common import client_finish, usage_dict
from edge.adapters.types import Chunk
from edge.fastpath import jsonio

from .types import StreamState

__all__ = ["OpenAIChunkEncoder"]


class OpenAIChunkEncoder:
    """Chunks of one upstream read -> the SSE bytes of OpenAI chunks."""

    def __init__(self, public_model: str, include_usage: bool, request_id: str = "", created: int | None = None, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self.include_usage = bool(include_usage)
        # Configured secrets out of the provider's text (edge.scrub, Scrubber.sse: whole events).
        self._scrub = scrub
        self._role_sent = False
        self._finished = False
        rid = request_id or "edge"
        self._head = (
            b'{"id":' + jsonio.dumps(rid if rid.startswith("chatcmpl-") else "chatcmpl-" + rid)
            + b',"object":"chat.completion.chunk","created":' + str(int(time.time()) if created is None else created).encode()
            + b',"model":' + jsonio.dumps(public_model) + b',"choices":'
        )

    def encode(self, chunks: list[Chunk]) -> bytes | None:
        out: list[bytes] = []
        for chunk in chunks:
            delta: dict[str, Any] = {}
            if chunk.reasoning:
                delta["reasoning_content"] = chunk.reasoning
            if chunk.content:
                delta["content"] = chunk.content
            if chunk.refusal:
                delta["refusal"] = chunk.refusal
            if chunk.tool_calls:
                calls = []
                for tc in chunk.tool_calls:
                    call: dict[str, Any] = {"index": tc.index}
                    if tc.id is not None:
                        call["id"] = tc.id
                        call["type"] = "function"
                        call["function"] = {"name": tc.name or "", "arguments": tc.arguments}
                    else:
                        call["function"] = {"arguments": tc.arguments}
                    calls.append(call)
                delta["tool_calls"] = calls
            if delta:
                self._delta(delta, None, out)
            if chunk.finish_reason is not None and not self._finished:
                self._finished = True
                self._delta({}, client_finish(chunk.finish_reason), out)
        if not out:
            return None
        data = b"".join(out)
        return self._scrub(data) if self._scrub is not None else data

    def tail(self, state: StreamState) -> bytes | None:
        if not self.include_usage or state.usage is None:
            return None
        return b"data: " + self._head + b'[],"usage":' + jsonio.dumps(usage_dict(state.usage)) + b"}\n\n"

    def _delta(self, delta: dict[str, Any], finish: str | None, out: list[bytes]) -> None:
        if not self._role_sent:
            self._role_sent = True
            out.append(b"data: " + self._head + b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n')
        out.append(b"data: " + self._head + b'[{"index":0,"delta":' + jsonio.dumps(delta) + b',"logprobs":null,"finish_reason":' + jsonio.dumps(finish) + b"}]}\n\n")
