"""Quality checks for escalation (``models.<name>.escalate.when``).

invalid_json: the client asked for JSON (response_format json_object or json_schema) and the
answer is not JSON, or not valid against the schema it asked for (validated with jsonschema-rs,
JSON Schema draft 2020-12 and earlier). truncated: finish_reason "length". refusal: a refusal
field, or finish_reason "content_filter". empty: no text and no tool calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema_rs

from edge.fastpath import jsonio

__all__ = ["failed_check"]


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
