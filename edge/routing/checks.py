"""Quality checks for escalation (``models.<name>.escalate.when``).

invalid_json: the client asked for JSON (response_format json_object or json_schema) and the
answer is not JSON, or not valid against the schema it asked for (validated with jsonschema-rs,
JSON Schema draft 2020-12 and earlier). truncated: finish_reason "length". refusal: a refusal
field, or finish_reason "content_filter". empty: no text and no tool calls.

The same checks read the other dialects' answers through a chat-shaped view of them: an
Anthropic Message (stop_reason ``max_tokens`` is truncated, ``refusal`` a refusal; text blocks
and tool_use blocks; JSON asked with ``output_config.format``, Anthropic's structured outputs)
and a Responses object (status ``incomplete`` for ``max_output_tokens`` is truncated, for
``content_filter`` or a ``refusal`` content part a refusal; output_text and function_call
items; JSON asked with ``text.format``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema_rs

from edge.fastpath import jsonio

__all__ = ["failed_check", "failed_message_check", "failed_response_check"]


def failed_check(answer: dict[str, Any], request: dict[str, Any], checks: Sequence[str]) -> str | None:
    """The first check the answer fails, or None when it passes them all."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content = message.get("content")
    finish = choice.get("finish_reason")
    for check in checks:
        if check == "truncated" and finish == "length":
            return "truncated"
        if check == "refusal" and (message.get("refusal") or finish == "content_filter"):
            return "refusal"
        if check == "empty" and not (isinstance(content, str) and content.strip()) and not message.get("tool_calls"):
            return "empty"
        if check == "invalid_json" and _json_problem(content, request.get("response_format")):
            return "invalid_json"
    return None


def _json_problem(content: Any, response_format: Any) -> bool:
    if not isinstance(response_format, dict) or response_format.get("type") not in ("json_object", "json_schema"):
        return False  # the client did not ask for JSON: nothing to check
    if not isinstance(content, str):
        return True
    try:
        value = jsonio.loads(content)
    except jsonio.JSONDecodeError:
        return True
    if response_format.get("type") == "json_object":
        return not isinstance(value, dict)
    schema = (response_format.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        return False
    try:
        return not jsonschema_rs.validator_for(schema).is_valid(value)
    except (ValueError, jsonschema_rs.ValidationError):
        return False  # a schema the validator cannot compile: the upstream accepted it, so do we


def failed_message_check(message: dict[str, Any], request: dict[str, Any], checks: Sequence[str]) -> str | None:
    """``failed_check`` for an Anthropic Message answering a Messages request."""
    blocks = [b for b in message.get("content") or () if isinstance(b, dict)]
    text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
    calls = [b for b in blocks if b.get("type") == "tool_use"]
    stop = message.get("stop_reason")
    finish = "length" if stop == "max_tokens" else "content_filter" if stop == "refusal" else stop
    fmt = (request.get("output_config") or {}).get("format") if isinstance(request.get("output_config"), dict) else None
    return failed_check(_chat_view(text, calls, finish), {"response_format": _json_format(fmt)}, checks)


def failed_response_check(response: dict[str, Any], request: dict[str, Any], checks: Sequence[str]) -> str | None:
    """``failed_check`` for a Responses object answering a Responses request."""
    items = [i for i in response.get("output") or () if isinstance(i, dict)]
    parts = [p for i in items if i.get("type") == "message" for p in i.get("content") or () if isinstance(p, dict)]
    text = "".join(str(p.get("text") or "") for p in parts if p.get("type") == "output_text")
    calls = [i for i in items if i.get("type") == "function_call"]
    reason = (response.get("incomplete_details") or {}).get("reason") if response.get("status") == "incomplete" else None
    refused = any(p.get("type") == "refusal" for p in parts)
    finish = "length" if reason == "max_output_tokens" else "content_filter" if reason == "content_filter" or refused else "stop"
    fmt = (request.get("text") or {}).get("format") if isinstance(request.get("text"), dict) else None
    return failed_check(_chat_view(text, calls, finish), {"response_format": _json_format(fmt)}, checks)


def _chat_view(text: str, calls: list[dict[str, Any]], finish: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"content": text or None, "tool_calls": calls or None}, "finish_reason": finish}]}


def _json_format(fmt: Any) -> dict[str, Any] | None:
    """Anthropic's ``output_config.format`` or the Responses ``text.format`` as the chat
    ``response_format`` the JSON check reads (both name the schema ``schema``)."""
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        return {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
    return None
