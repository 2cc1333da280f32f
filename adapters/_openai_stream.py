"""OpenAI ``chat.completion.chunk`` SSE -> normalized Chunks (``OpenAIAdapter.stream_decoder``).

Used whenever the client's dialect is not OpenAI chat (the gRPC surface, and the next inbound
dialects); OpenAI chat clients get the byte pass-through instead. Wire format: OpenAI streaming
chat (shared/reference/wire-formats.md section 1.5): one JSON object per ``data:`` event,
choice 0 read, a last ``choices: []`` chunk with usage when asked, ``data: [DONE]`` at the end,
and ``data: {"error": {...}}`` for a failure after the stream began.
"""

from __future__ import annotations

from typing import Any

from edge.fastpath.sse import SSEDecoder

from ._common import event_object, upstream_error
from .types import Chunk, FinishReason, ToolCallDelta, UpstreamErrorInfo, Usage

__all__ = ["OpenAIStreamDecoder", "finish_reason", "stream_error", "usage_from_openai"]

# OpenAI's finish reasons, each one of ours as it is; anything else is "unknown".
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "function_call",
}
_STATUS_BY_TYPE = {"rate_limit_error": 429, "invalid_request_error": 400, "timeout": 504}


class OpenAIStreamDecoder:
    """feed(bytes) -> list[Chunk], flush() -> list[Chunk]; ``done`` once ``[DONE]`` arrived."""

    def __init__(self) -> None:
        self._sse = SSEDecoder(data_only=True)
        self.done = False

    def feed(self, data: bytes) -> list[Chunk]:
        return self._decode(self._sse.feed(data))

    def flush(self) -> list[Chunk]:
        return self._decode(self._sse.flush())

    def _decode(self, events: list[bytes]) -> list[Chunk]:
        out: list[Chunk] = []
        for data in events:
            if self.done:
                break
            if data == b"[DONE]" or data.strip() == b"[DONE]":
                self.done = True
                continue
            doc = event_object(data, "The provider sent a stream event")
            chunk = doc if isinstance(doc, Chunk) else _chunk(doc) if doc is not None else None
            if chunk is not None:
                out.append(chunk)
                if chunk.error is not None:
                    self.done = True
                    break
        return out


def finish_reason(reason: str) -> FinishReason:
    """An OpenAI ``finish_reason`` in our closed set."""
    return _FINISH_REASONS.get(reason, "unknown")


def stream_error(err: Any) -> UpstreamErrorInfo:
    """The ``error`` member of an in-stream ``{"error": ...}`` event, in our vocabulary."""
    if not isinstance(err, dict):
        err = {"message": str(err)}
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    status = _STATUS_BY_TYPE.get(etype or "", 502)
    return upstream_error(status, str(err.get("message") or ""), type=etype, code=err.get("code"), param=err.get("param"))


def _chunk(doc: dict[str, Any]) -> Chunk | None:
    err = doc.get("error")
    if err is not None:
        return Chunk(error=stream_error(err))
    usage = usage_from_openai(doc.get("usage"))
    choices = doc.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None:
        return Chunk(usage=usage) if usage is not None else None
    delta = choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    reason = choice.get("finish_reason")
    finish = _FINISH_REASONS.get(reason, "unknown") if isinstance(reason, str) else None
    reasoning = delta.get("reasoning_content", delta.get("reasoning"))
    return Chunk(
        content=_text(delta.get("content")),
        reasoning=_text(reasoning),
        refusal=_text(delta.get("refusal")),
        tool_calls=_tool_calls(delta.get("tool_calls")),
        finish_reason=finish,
        usage=usage,
    )


def usage_from_openai(raw: Any) -> Usage | None:
    """OpenAI ``CompletionUsage`` -> Usage; tolerant of missing or null detail objects."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cdetails = raw.get("completion_tokens_details")
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        cached_tokens=_int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
        reasoning_tokens=_int(cdetails.get("reasoning_tokens")) if isinstance(cdetails, dict) else 0,
        # OpenAI-format vendors that charge for cache writes report them here (OpenRouter).
        cache_write_tokens=_int(details.get("cache_write_tokens")) if isinstance(details, dict) else 0,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _tool_calls(raw: Any) -> list[ToolCallDelta] | None:
    if not isinstance(raw, list) or not raw:
        return None
    out = []
    for position, call in enumerate(raw):
        if not isinstance(call, dict):
            continue
        fn = call.get("function")
        if not isinstance(fn, dict):
            fn = {}
        index = call.get("index", position)
        out.append(
            ToolCallDelta(
                index=index if isinstance(index, int) and index >= 0 else position,
                id=_text(call.get("id")),
                name=_text(fn.get("name")),
                arguments=_text(fn.get("arguments")) or "",
            )
        )
    return out or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
