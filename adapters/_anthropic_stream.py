"""Anthropic Messages SSE -> normalized chunks (shared/reference/wire-formats.md section 2.4).

Events are a tagged set named as in Anthropic's docs; the JSON ``type`` equals the SSE event name,
and we dispatch on the JSON ``type`` so a stream whose ``event:`` lines were lost still decodes.
Unknown events are skipped on purpose (Anthropic's versioning policy says to ignore them).

- ``message_start``: input usage (input + cache creation + cache read) and the first output count.
- ``content_block_start``: a ``tool_use`` block opens an OpenAI tool call whose ``index`` is a
  running counter of client tool calls, not Anthropic's block index (which also counts text,
  thinking and server-tool blocks).
- ``content_block_delta``: text_delta -> content, thinking_delta -> reasoning,
  input_json_delta -> argument fragments (the first is often ""), signature_delta and
  citations_delta are dropped. A tool block that streamed no argument text gets "{}" at
  ``content_block_stop`` (a no-argument call sends only ``""``).
- ``message_delta``: stop_reason and cumulative usage (recent streams repeat the input counts).
- ``message_stop``: the proper end; ``done`` turns true.
- ``error``: may arrive after HTTP 200 (e.g. overloaded_error); becomes an error chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.fastpath.sse import SSEDecoder

from ._common import event_object, upstream_error
from .types import Chunk, FinishReason, ToolCallDelta, UpstreamErrorInfo, Usage

__all__ = ["AnthropicStreamDecoder", "error_info", "finish_reason_for", "usage_from_anthropic"]

_FINISH: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error type -> (status the client sees, OpenAI-style code). 529 overloaded_error is
# not an HTTP status OpenAI clients know; 503 is, and they retry it (section 6).
_ERRORS: Mapping[str, tuple[int | None, str]] = {
    "invalid_request_error": (None, "invalid_request_error"),
    "authentication_error": (401, "invalid_api_key"),
    "billing_error": (402, "billing_error"),
    "permission_error": (403, "permission_error"),
    "not_found_error": (404, "model_not_found"),
    "request_too_large": (413, "request_too_large"),
    "rate_limit_error": (429, "rate_limit_exceeded"),
    "api_error": (500, "api_error"),
    "timeout_error": (504, "timeout"),
    "overloaded_error": (503, "overloaded"),
}


# Status per Anthropic error type, for error events that come inside a 200 stream.
_EVENT_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def error_info(status: int, err: Mapping[str, Any], retry_after: float | None) -> UpstreamErrorInfo:
    """An Anthropic ``error`` object (HTTP body or SSE ``error`` event) -> the OpenAI vocabulary."""
    kind = str(err.get("type") or "")
    mapped_status, code = _ERRORS.get(kind, (None, kind or None))
    out_status = mapped_status or (503 if status == 529 else status)
    etype = {429: "rate_limit_error", 503: "api_error"}.get(out_status)
    return upstream_error(out_status, str(err.get("message") or ""), type=etype, code=code, retry_after=retry_after)


def finish_reason_for(stop_reason: Any) -> FinishReason | None:
    if stop_reason is None:
        return None
    return _FINISH.get(str(stop_reason), "unknown")


def _n(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def usage_from_anthropic(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    cache_read = _n(raw.get("cache_read_input_tokens"))
    cache_write = _n(raw.get("cache_creation_input_tokens"))
    prompt = _n(raw.get("input_tokens")) + cache_write + cache_read
    details = raw.get("output_tokens_details")
    reasoning = _n(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    # cache_creation splits the writes by TTL (priced apart); a total without the split (or a
    # later message_delta total beside message_start's split) counts the rest as 5-minute writes.
    split = raw.get("cache_creation")
    hour = min(cache_write, _n(split.get("ephemeral_1h_input_tokens"))) if isinstance(split, dict) else 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=_n(raw.get("output_tokens")), cached_tokens=cache_read, reasoning_tokens=reasoning, cache_write_tokens=cache_write, cache_write_1h_tokens=hour
    )


class AnthropicStreamDecoder:
    """Feed the raw SSE body in any split; get normalized chunks back."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool index
        self._args_seen: dict[int, bool] = {}
        self._next_tool = 0
        self.done = False
        self.message_id: str | None = None
        self.model: str | None = None

    def feed(self, data: bytes) -> list[Chunk]:
        if self.done:
            return []
        return self._events(self._sse.feed(data))

    def flush(self) -> list[Chunk]:
        if self.done:
            return []
        return self._events(self._sse.flush())

    def _events(self, events: list[Any]) -> list[Chunk]:
        out: list[Chunk] = []
        for event in events:
            if self.done:
                break
            data = event.data.strip()
            if not data:
                continue
            doc = event_object(data, "Anthropic sent an event")
            if isinstance(doc, Chunk):
                out.append(doc)
                self.done = True
                break
            if doc is not None:
                self._event(doc, out)
        return out

    def _event(self, doc: dict[str, Any], out: list[Chunk]) -> None:
        kind = doc.get("type")
        if kind == "content_block_delta":
            self._delta(doc, out)
        elif kind == "content_block_start":
            block = doc.get("content_block")
            index = doc.get("index")
            if isinstance(block, dict) and isinstance(index, int):
                self._start(index, block, out)
        elif kind == "content_block_stop":
            index = doc.get("index")
            if isinstance(index, int) and index in self._tools and not self._args_seen.get(index):
                out.append(Chunk(tool_calls=[ToolCallDelta(self._tools[index], arguments="{}")]))
                self._args_seen[index] = True
        elif kind == "message_start":
            message = doc.get("message")
            if isinstance(message, dict):
                self.message_id = message.get("id")
                self.model = message.get("model")
                if isinstance(message.get("usage"), dict):
                    self._usage.update(message["usage"])
        elif kind == "message_delta":
            if isinstance(doc.get("usage"), dict):
                self._usage.update({k: v for k, v in doc["usage"].items() if v is not None})
            delta = doc.get("delta")
            if not isinstance(delta, dict):
                delta = {}
            reason = delta.get("stop_reason")
            chunk = Chunk(finish_reason=finish_reason_for(reason), usage=usage_from_anthropic(self._usage))
            if reason == "refusal":
                details = delta.get("stop_details")
                chunk.refusal = str(details.get("explanation") or "refused") if isinstance(details, dict) else "refused"
            out.append(chunk)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            err = doc.get("error")
            if not isinstance(err, dict):
                err = {}
            etype = str(err.get("type") or "api_error")
            out.append(Chunk(error=error_info(_EVENT_STATUS.get(etype, 500), err, None)))
            self.done = True
        # ping and unknown event types: nothing to forward.

    def _start(self, index: int, block: dict[str, Any], out: list[Chunk]) -> None:
        kind = block.get("type")
        if kind == "tool_use":
            tool = self._next_tool
            self._next_tool += 1
            self._tools[index] = tool
            out.append(Chunk(tool_calls=[ToolCallDelta(tool, str(block.get("id") or ""), str(block.get("name") or ""), "")]))
        elif kind == "text" and block.get("text"):
            out.append(Chunk(content=str(block["text"])))
        elif kind == "thinking" and block.get("thinking"):
            out.append(Chunk(reasoning=str(block["thinking"])))

    def _delta(self, doc: dict[str, Any], out: list[Chunk]) -> None:
        delta = doc.get("delta")
        if not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                out.append(Chunk(content=str(text)))
        elif kind == "thinking_delta":
            text = delta.get("thinking")
            if text:
                out.append(Chunk(reasoning=str(text)))
        elif kind == "signature_delta":
            signature = delta.get("signature")
            if signature:
                out.append(Chunk(reasoning_signature=str(signature)))
        elif kind == "input_json_delta":
            index = doc.get("index")
            piece = delta.get("partial_json")
            if isinstance(index, int) and index in self._tools and piece:
                self._args_seen[index] = True
                out.append(Chunk(tool_calls=[ToolCallDelta(self._tools[index], arguments=str(piece))]))
        # citations_delta and input_json_delta of server tools: not shown.
