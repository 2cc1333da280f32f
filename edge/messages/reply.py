"""A bridged route's answer in the Messages API's shapes (wire-formats.md sections 2.3 and 2.5).

- usage: ``input_tokens`` excludes the cache (Anthropic's total input is input + cache writes +
  cache reads), so OpenAI's ``cached_tokens`` become ``cache_read_input_tokens`` and cache
  writes ``cache_creation_input_tokens``; ``output_tokens`` includes reasoning, as both count.
- stop_reason: stop -> end_turn, length -> max_tokens, tool_calls -> tool_use, content_filter
  -> refusal (a refusal's text is the answer's text); ``stop_sequence`` stays null (chat does
  not say which stop matched).
- errors: ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the status and
  type Anthropic clients act on: 400 invalid_request_error, 401 authentication_error, 403
  permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 500
  api_error, 504 timeout_error, 529 overloaded_error (for the 503s of a gateway or provider with
  no capacity: the status the Anthropic SDKs retry as overloaded).
"""

from __future__ import annotations

import re
from typing import Any

from edge.adapters._common import parse_arguments
from edge.adapters.types import ChatResult, Usage
from edge.fastpath import jsonio

from ..errors import EdgeError
from .bridge import client_tool_id

__all__ = ["STOP_REASONS", "error_body", "error_event", "error_status", "message_from_chat", "message_id", "usage_json"]

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use", "content_filter": "refusal", "unknown": "end_turn"}

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error"}


def usage_json(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    fresh = max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
    return {"input_tokens": fresh, "cache_creation_input_tokens": usage.cache_write_tokens, "cache_read_input_tokens": usage.cached_tokens, "output_tokens": usage.completion_tokens}


def message_id(raw: Any) -> str:
    text = _NOT_ID.sub("", str(raw or ""))[:64]
    return text if text.startswith("msg_") else "msg_" + (text or "edge")


def message_from_chat(result: ChatResult, public_model: str, show_thinking: bool) -> ChatResult:
    """A chat.completion (any adapter's parse_chat) as an Anthropic Message."""
    doc = result.document()
    choices = doc.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if show_thinking and message.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": str(message["reasoning_content"]), "signature": ""})
    text = message.get("content") or message.get("refusal")
    if text:
        content.append({"type": "text", "text": str(text)})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        content.append({"type": "tool_use", "id": client_tool_id(str(call.get("id") or "call")), "name": fn.get("name"), "input": parse_arguments(str(fn.get("arguments") or ""))})
    finish = str(choice.get("finish_reason") or "stop")
    out = {
        "id": message_id(doc.get("id")),
        "type": "message",
        "role": "assistant",
        "model": public_model,
        "content": content,
        "stop_reason": "refusal" if message.get("refusal") and not message.get("content") else STOP_REASONS.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": usage_json(result.usage),
    }
    return ChatResult(jsonio.dumps(out), result.usage, result.finish_reason, out)


def error_status(err: EdgeError) -> tuple[int, str]:
    """The status and Anthropic error type for one of our errors."""
    status = err.status
    if status == 503:
        return 529, "overloaded_error"
    if status in _TYPES:
        return status, _TYPES[status]
    return status, "api_error" if status >= 500 else "invalid_request_error"


def error_body(err: EdgeError, request_id: str) -> bytes:
    _, kind = error_status(err)
    return jsonio.dumps({"type": "error", "error": {"type": kind, "message": err.message}, "request_id": request_id})


def error_event(err: EdgeError) -> bytes:
    _, kind = error_status(err)
    return b"event: error\ndata: " + jsonio.dumps({"type": "error", "error": {"type": kind, "message": err.message}}) + b"\n\n"
