"""What the mock provider answers: knobs, scripted failures and reply content.

Shared by the OpenAI-dialect mock (openai.py) and the other dialects
(dialects.py), so every dialect answers the same knobs the same way.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Protocol

from edge.fastpath import jsonio

__all__ = [
    "DEFAULT_WORDS",
    "json_reply",
    "knob",
    "last_user_text",
    "prompt_tokens",
    "reply_words",
    "sample",
    "scripted_failure",
    "tool_calls",
    "usage",
]

DEFAULT_WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog.")


class _Counters(Protocol):
    counters: dict[str, int]
    rng: random.Random


class _Defaults(Protocol):
    @property
    def tokens(self) -> int | None: ...


def knob(body: dict[str, Any], name: str, default: Any = None) -> Any:
    knobs = body.get("mock")
    if not isinstance(knobs, dict):
        return default
    # by_model: knobs for one upstream model only, so a primary can fail while its fallback
    # (the same mock under another model name) answers.
    per_model = knobs.get("by_model")
    if isinstance(per_model, dict):
        mine = per_model.get(body.get("model"))
        if isinstance(mine, dict) and name in mine:
            return mine[name]
    return knobs.get(name, default)


def scripted_failure(body: dict[str, Any], state: _Counters) -> int | None:
    """An HTTP status to fail this call with, from the failure knobs, or None."""
    status = knob(body, "status")
    if isinstance(status, int) and status >= 400:
        return status
    fail_status = knob(body, "fail_status", 503)
    fail_first = knob(body, "fail_first")
    if isinstance(fail_first, int) and fail_first > 0:
        key = f"{knob(body, 'scenario', '')}/{body.get('model')}"
        seen = state.counters.get(key, 0)
        state.counters[key] = seen + 1
        if seen < fail_first:
            return int(fail_status)
    fail_rate = knob(body, "fail_rate")
    if isinstance(fail_rate, (int, float)) and fail_rate > 0 and state.rng.random() < fail_rate:
        return int(fail_status)
    return None


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def reply_words(body: dict[str, Any], knobs: _Defaults) -> list[str]:
    count = knob(body, "tokens", knobs.tokens)
    if isinstance(count, int) and count >= 0:
        return [DEFAULT_WORDS[i % len(DEFAULT_WORDS)] for i in range(count)]
    text = last_user_text(body.get("messages"))
    return text.split() or list(DEFAULT_WORDS[:8])


def sample(schema: Any, depth: int = 0) -> Any:
    """A value that satisfies a (simple) JSON Schema: enough for structured-output tests."""
    if not isinstance(schema, dict) or depth > 6:
        return "value"
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: sample(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [sample(schema.get("items"), depth + 1)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "Paris") if kind else "Paris"


def tool_calls(body: dict[str, Any], call_id_base: str) -> list[dict[str, Any]]:
    tools = body.get("tools") or [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    count = knob(body, "tool_calls", 1)
    calls = []
    for i in range(max(1, int(count) if isinstance(count, int) else 1)):
        fn = (tools[i % len(tools)] or {}).get("function") or {}
        args = sample(fn.get("parameters") or {"type": "object", "properties": {}})
        calls.append({"id": f"call_{call_id_base}_{i}", "type": "function", "function": {"name": fn.get("name", "tool"), "arguments": jsonio.dumps(args).decode()}})
    return calls


def json_reply(body: dict[str, Any]) -> str:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return jsonio.dumps(sample(schema or {"type": "object"})).decode()
    return jsonio.dumps({"answer": " ".join(last_user_text(body.get("messages")).split()[:8]) or "ok"}).decode()


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def prompt_tokens(body: dict[str, Any]) -> int:
    # A rough count is enough for a mock: about one token per word plus per-message overhead.
    messages = body.get("messages") or []
    return sum(len(last_user_text([m]).split()) + 4 for m in messages if isinstance(m, dict)) + 3


def vector(text: str, dims: int) -> list[float]:
    """A deterministic unit-ish embedding: the same text always embeds the same way (every dialect)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 127.5) / 127.5, 6) for i in range(dims)]
