"""Normalized chunks -> OpenAI ``chat.completion.chunk`` SSE, for translating adapters.

The same surface and state as fastpath's ``OpenAIStreamRewriter`` (``feed``/``flush`` bytes in,
bytes out; ``done``, ``error``, ``finish_reason``, ``usage``, ``chunks``, ``text_bytes``), so the
HTTP stream handler treats both alike. Shapes follow the OpenAI spec and recorded OpenAI streams
(shared/reference/wire-formats.md sections 1.5 and 6):

- the first chunk carries ``delta.role: "assistant"`` and ``content: ""``;
- reasoning text goes in ``delta.reasoning_content`` (DeepSeek's name), never in ``content``;
- a tool call's first fragment carries index, id, type and name; later ones only arguments;
- the finish reason comes in its own chunk with an empty delta;
- usage is always captured (``usage`` holds the OpenAI usage JSON) and shown as a last chunk
  with ``choices: []`` only when the client asked (stream_options.include_usage);
- a provider error becomes ``data: {"error": {...}}`` and ends the output.
``data: [DONE]`` is the server's to write, not ours.
"""

from __future__ import annotations

import time
from typing import Any

from edge.adapters._common import client_finish, usage_dict
from edge.adapters.types import Chunk, StreamDecoder, Usage
from edge.fastpath import jsonio

__all__ = ["TranslatedStream"]


class TranslatedStream:
    """Feed raw provider body bytes in any split; get OpenAI SSE bytes back."""

    def __init__(self, decoder: StreamDecoder, public_model: str, include_usage: bool, request_id: str = "", created: int | None = None) -> None:
        self.decoder = decoder
        self.public_model = public_model
        self.include_usage = bool(include_usage)
        self.done = False
        self.error: bytes | None = None
        self.finish_reason: str | None = None
        self.usage: bytes | None = None
        self.chunks = 0
        # Translating decoders surface broken provider events as errors themselves.
        self.malformed = 0
        self.text_bytes = 0
        self._usage: Usage | None = None
        self._role_sent = False
        self._usage_sent = False
        rid = request_id or "edge"
        self._head = (
            b'{"id":' + jsonio.dumps(rid if rid.startswith("chatcmpl-") else "chatcmpl-" + rid)
            + b',"object":"chat.completion.chunk","created":' + str(int(time.time()) if created is None else created).encode()
            + b',"model":' + jsonio.dumps(public_model) + b',"choices":'
        )

    def feed(self, data: bytes) -> bytes:
        if self.error is not None or self._usage_sent or not data:
            return b""
        out: list[bytes] = []
        self._chunks(self.decoder.feed(data), out)
        if getattr(self.decoder, "done", False) and self.error is None:
            self.done = True
            self._end(out)
        return b"".join(out)

    def flush(self) -> bytes:
        """End of the provider body: decode what was held back, then the usage chunk."""
        if self.error is not None or self._usage_sent:
            return b""
        out: list[bytes] = []
        self._chunks(self.decoder.flush(), out)
        if self.error is None and (getattr(self.decoder, "done", False) or self.finish_reason is not None):
            self.done = True
            self._end(out)
        return b"".join(out)

    # -- encoding -------------------------------------------------------------------------

    def _chunks(self, chunks: list[Chunk], out: list[bytes]) -> None:
        for chunk in chunks:
            if self.error is not None:
                return
            if chunk.usage is not None:
                self._usage = chunk.usage
                self.usage = jsonio.dumps(usage_dict(chunk.usage))
            if chunk.error is not None:
                err = chunk.error
                self.error = jsonio.dumps({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})
                out.append(b"data: " + self.error + b"\n\n")
                self.chunks += 1
                return
            delta: dict[str, Any] = {}
            if chunk.reasoning:
                delta["reasoning_content"] = chunk.reasoning
                self.text_bytes += len(chunk.reasoning.encode())
            if chunk.content:
                delta["content"] = chunk.content
                self.text_bytes += len(chunk.content.encode())
            if chunk.refusal:
                delta["refusal"] = chunk.refusal
                self.text_bytes += len(chunk.refusal.encode())
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
                    self.text_bytes += len(tc.arguments.encode())
                    calls.append(call)
                delta["tool_calls"] = calls
            if delta:
                self._delta(delta, None, out)
            if chunk.finish_reason is not None and self.finish_reason is None:
                self.finish_reason = chunk.finish_reason
                self._delta({}, client_finish(chunk.finish_reason), out)

    def _delta(self, delta: dict[str, Any], finish: str | None, out: list[bytes]) -> None:
        if not self._role_sent:
            self._role_sent = True
            self._frame(b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]', out)
        self._frame(b'[{"index":0,"delta":' + jsonio.dumps(delta) + b',"logprobs":null,"finish_reason":' + jsonio.dumps(finish) + b"}]", out)

    def _frame(self, choices: bytes, out: list[bytes], usage: bytes | None = None) -> None:
        tail = b"}\n\n" if usage is None else b',"usage":' + usage + b"}\n\n"
        out.append(b"data: " + self._head + choices + tail)
        self.chunks += 1

    def _end(self, out: list[bytes]) -> None:
        if self._usage_sent or self.error is not None:
            return
        self._usage_sent = True
        if self.include_usage and self.usage is not None:
            self._frame(b"[]", out, self.usage)
