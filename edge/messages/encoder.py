"""Normalized chunks as Anthropic Messages SSE, in the API's exact event order (section 2.4).

For bridged routes (edge/transcode.DecodedStream: the adapter's decoder, then this encoder):

    message_start            (usage: the input count; the upstream's when its first read has it,
                              as Gemini's does, else the gateway's count of the translated prompt:
                              OpenAI-format and Ollama upstreams report usage only at the end)
    content_block_start      thinking / text / tool_use, one block at a time, indexed from 0
    content_block_delta      thinking_delta, signature_delta, text_delta, input_json_delta
    content_block_stop
    message_delta            stop_reason and the cumulative usage, written by the sink: the
                              upstream's own final numbers, input_tokens and the cache reads and
                              writes included (Anthropic's message_delta may carry them, and the
                              SDKs' accumulators let them replace message_start's), so a client
                              ends with the provider's count, as the ledger does; when the upstream
                              reported none, the relay's estimate with ``"estimated": true`` in the
                              usage object (as chat's usage chunk says it) and the row marked
    message_stop

``ping`` events are the sink's (edge/http/messages.py), written while the upstream is silent.
Reasoning text opens a thinking block unless the client asked for ``display: "omitted"``; a
refusal is text with stop_reason ``refusal``. Tool-call ids become ``toolu_`` ids
(edge/messages/bridge.client_tool_id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.adapters.types import Chunk, Usage
from edge.fastpath import jsonio

from ..types import StreamState
from .bridge import client_tool_id
from .reply import STOP_REASONS, usage_json

__all__ = ["PING", "MessagesEventEncoder", "event"]

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def event(kind: str, doc: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + jsonio.dumps(doc) + b"\n\n"


class MessagesEventEncoder:
    """One bridged stream's encoder; the sink asks it for the opening and the ending."""

    def __init__(self, public_model: str, message_id: str, prompt_tokens: Callable[[], int], show_thinking: bool, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self._model = public_model
        self._id = message_id
        self._prompt_tokens = prompt_tokens
        self._show_thinking = show_thinking
        self._scrub = scrub
        self.started = False
        self.progress = 0  # upstream reads encoded (the sink pings when it stands still)
        self._kind: str | None = None  # the open block: thinking, text or tool
        self._index = -1
        self._tool: int | None = None  # the upstream's index of the open tool call
        self._stop = "end_turn"
        self._refused = False

    def start(self, usage: Usage | None) -> bytes:
        """message_start, once."""
        self.started = True
        counts = usage_json(usage) if usage is not None and usage.prompt_tokens else usage_json(Usage(prompt_tokens=self._prompt_tokens()))
        counts["output_tokens"] = 0
        message: dict[str, Any] = {"id": self._id, "type": "message", "role": "assistant", "model": self._model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": counts}
        return event("message_start", {"type": "message_start", "message": message})

    def encode(self, chunks: list[Chunk]) -> bytes | None:
        self.progress += 1
        out: list[bytes] = []
        if not self.started:
            out.append(self.start(next((c.usage for c in chunks if c.usage is not None), None)))
        for chunk in chunks:
            if chunk.reasoning and self._show_thinking:
                self._open("thinking", out, {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": chunk.reasoning}))
            if chunk.reasoning_signature and self._kind == "thinking":
                out.append(self._delta({"type": "signature_delta", "signature": chunk.reasoning_signature}))
            text = chunk.content or chunk.refusal
            if text:
                self._refused = self._refused or bool(chunk.refusal)
                self._open("text", out, {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in chunk.tool_calls or ():
                if call.id is not None or self._kind != "tool" or call.index != self._tool:
                    block = {"type": "tool_use", "id": client_tool_id(call.id or f"call_{call.index}"), "name": call.name or "", "input": {}}
                    self._open("tool", out, block, force=True)
                    self._tool = call.index
                if call.arguments:
                    out.append(self._delta({"type": "input_json_delta", "partial_json": call.arguments}))
            if chunk.finish_reason is not None:
                self._stop = STOP_REASONS.get(chunk.finish_reason, "end_turn")
        data = b"".join(out)
        if data and self._scrub is not None:
            data = self._scrub(data)
        return data or None

    def tail(self, state: StreamState) -> bytes | None:
        """The answer ended well: the open block closes (the sink writes message_delta)."""
        out = [] if self.started else [self.start(state.usage)]
        self._close(out)
        return b"".join(out) or None

    def ending(self, usage: Usage) -> bytes:
        stop = "refusal" if self._refused and self._stop == "end_turn" else self._stop
        counts = usage_json(usage)
        if usage.estimated:
            counts["estimated"] = True  # the gateway's count, not the provider's: said where the number is
        delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": counts}
        return event("message_delta", delta) + event("message_stop", {"type": "message_stop"})

    def _open(self, kind: str, out: list[bytes], block: dict[str, Any], force: bool = False) -> None:
        if self._kind == kind and not force:
            return
        self._close(out)
        self._index += 1
        self._kind = kind
        out.append(event("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._kind is not None:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._kind = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})
