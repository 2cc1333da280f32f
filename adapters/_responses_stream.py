"""Responses API events (SSE) or a whole response object -> normalized Chunks.

The reading side of adapters/responses_wire.py: what a Responses server says, in the event
model every decoder emits, so it can be re-encoded for another client dialect (the bridge's
replay of recorded Responses traffic, tests/edge/responses/test_responses_fixtures.py). Event
names and shapes: the OpenAI API reference (``ResponseStreamEvent``) and
shared/fixtures/responses/. Read: output text, refusal and reasoning (summary or raw) deltas,
function calls (``call_id`` as the tool-call id, arguments as they stream), the reasoning item's
``encrypted_content`` as its signature, the final usage and status (``incomplete`` -> length or
content_filter), ``error`` and ``response.failed``. Hosted tool items (web search, file search,
...) have no chat form and are skipped on purpose; ``done`` turns true at the terminal event.
"""

from __future__ import annotations

from typing import Any

from edge.fastpath.sse import SSEDecoder

from ._common import event_object
from ._openai_stream import stream_error
from .responses_wire import usage_from_responses
from .types import Chunk, FinishReason, ToolCallDelta

__all__ = ["ResponsesStreamDecoder", "chunks_from_response"]

_TERMINAL = frozenset(("response.completed", "response.incomplete"))


def _finish(response: dict[str, Any], called: bool) -> FinishReason:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if called else "stop"


class ResponsesStreamDecoder:
    """feed(bytes) -> list[Chunk]; ``done`` once response.completed / .incomplete / .failed."""

    def __init__(self) -> None:
        self._sse = SSEDecoder(data_only=True)
        self._calls: dict[int, int] = {}  # output_index -> tool-call index
        self.done = False

    def feed(self, data: bytes) -> list[Chunk]:
        return self._decode(self._sse.feed(data))

    def flush(self) -> list[Chunk]:
        return self._decode(self._sse.flush())

    def _decode(self, events: list[Any]) -> list[Chunk]:
        out: list[Chunk] = []
        for data in events:
            if self.done:
                break
            doc = event_object(data, "The provider sent a Responses event")
            if isinstance(doc, Chunk):
                out.append(doc)
                self.done = True
                break
            chunk = self._event(doc) if doc is not None else None
            if chunk is not None:
                out.append(chunk)
                if chunk.error is not None:
                    self.done = True
                    break
        return out

    def _event(self, doc: dict[str, Any]) -> Chunk | None:
        kind = doc.get("type")
        delta = doc.get("delta")
        if kind == "response.output_text.delta" and isinstance(delta, str):
            return Chunk(content=delta) if delta else None
        if kind == "response.refusal.delta" and isinstance(delta, str):
            return Chunk(refusal=delta) if delta else None
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta") and isinstance(delta, str):
            return Chunk(reasoning=delta) if delta else None
        if kind == "response.output_item.added":
            item = _object(doc.get("item"))
            if item.get("type") == "function_call":
                index = self._calls.setdefault(int(doc.get("output_index") or 0), len(self._calls))
                args = str(item.get("arguments") or "")
                return Chunk(tool_calls=[ToolCallDelta(index=index, id=str(item.get("call_id") or item.get("id") or ""), name=str(item.get("name") or ""), arguments=args)])
            return None
        if kind == "response.function_call_arguments.delta" and isinstance(delta, str):
            at = self._calls.get(int(doc.get("output_index") or 0))
            return Chunk(tool_calls=[ToolCallDelta(index=at, arguments=delta)]) if at is not None and delta else None
        if kind == "response.output_item.done":
            item = _object(doc.get("item"))
            signature = item.get("encrypted_content")
            if item.get("type") == "reasoning" and isinstance(signature, str) and signature:
                return Chunk(reasoning_signature=signature)
            return None
        if kind in _TERMINAL:
            self.done = True
            response = _object(doc.get("response"))
            return Chunk(finish_reason=_finish(response, bool(self._calls)), usage=usage_from_responses(response.get("usage")))
        if kind == "error":
            err = doc.get("error")
            return Chunk(error=stream_error(err if isinstance(err, dict) else doc))
        if kind == "response.failed":
            response = _object(doc.get("response"))
            err = response.get("error")
            return Chunk(error=stream_error(err if isinstance(err, dict) else {"message": "the response failed"}))
        return None  # created, in_progress, part events, .done events, hosted tool progress


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def chunks_from_response(doc: dict[str, Any]) -> list[Chunk]:
    """A whole response object as the chunks its stream would have given."""
    out: list[Chunk] = []
    calls = 0
    for item in doc.get("output") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            text = "".join(str(p.get("text") or "") for p in item.get("summary") or [] if isinstance(p, dict))
            signature = item.get("encrypted_content") if isinstance(item.get("encrypted_content"), str) else None
            if text or signature:
                out.append(Chunk(reasoning=text or None, reasoning_signature=signature))
        elif kind == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text" and part.get("text"):
                    out.append(Chunk(content=str(part["text"])))
                elif isinstance(part, dict) and part.get("type") == "refusal" and part.get("refusal"):
                    out.append(Chunk(refusal=str(part["refusal"])))
        elif kind == "function_call":
            out.append(Chunk(tool_calls=[ToolCallDelta(index=calls, id=str(item.get("call_id") or ""), name=str(item.get("name") or ""), arguments=str(item.get("arguments") or ""))]))
            calls += 1
    out.append(Chunk(finish_reason=_finish(doc, calls > 0), usage=usage_from_responses(doc.get("usage"))))
    return out
