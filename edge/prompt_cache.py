"""Automatic prompt-cache breakpoints: ``models.<name>.cache.auto`` for unchanged clients.

Providers that cache only where the request says so (Anthropic: ``cache_control`` breakpoints,
"Prompt caching") get, for a model whose config asks, a hint at the end of the prefixes that
rarely change: the last tool (``tools``) and the last system or developer message (``system``).
They are written into the OpenAI-shaped body as the hints a client could have sent itself
(``cache_control`` on a tool or a content part: adapters/fields.py CACHE_CONTROL), so the
adapter translates them like the client's own. Only kinds that translate those hints get them
(the others cache on their own or not at all: OpenAI and Gemini cache prefixes implicitly).

A hint already there is kept; automatic ones never push a request over the provider's limit
(Anthropic: four), so a client's own hints always win.
"""

from __future__ import annotations

from typing import Any

from edge.adapters.anthropic import MAX_BREAKPOINTS

__all__ = ["count_hints", "with_auto_hints", "without_hints"]


def count_hints(body: dict[str, Any]) -> int:
    """The cache hints a chat body carries (content parts and tools)."""
    count = sum(1 for tool in body.get("tools") or () if isinstance(tool, dict) and tool.get("cache_control") is not None)
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += sum(1 for part in content if isinstance(part, dict) and (part.get("cache_control") is not None or part.get("prompt_cache_breakpoint") is not None))
    return count


def with_auto_hints(body: dict[str, Any], auto: list[str], ttl: str) -> dict[str, Any]:
    """``body`` with a hint on the last tool and the last system message, as ``auto`` asks;
    the body itself is never changed (other routes get it as the client sent it)."""
    hint = {"type": "ephemeral", "ttl": ttl}
    room = MAX_BREAKPOINTS - count_hints(body)
    out = body
    if "tools" in auto and room > 0:
        tools = body.get("tools")
        if isinstance(tools, list) and tools and isinstance(tools[-1], dict) and tools[-1].get("cache_control") is None:
            out = dict(out, tools=[*tools[:-1], dict(tools[-1], cache_control=hint)])
            room -= 1
    if "system" in auto and room > 0:
        messages = body.get("messages")
        at = _last_system(messages)
        if at is not None and isinstance(messages, list):
            marked = _marked(messages[at], hint)
            if marked is not None:
                out = dict(out, messages=[*messages[:at], marked, *messages[at + 1 :]])
    return out


def _last_system(messages: Any) -> int | None:
    if not isinstance(messages, list):
        return None
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            return i
    return None


def _marked(message: dict[str, Any], hint: dict[str, str]) -> dict[str, Any] | None:
    """The message with its last text part marked; None when it has no text or a mark already."""
    content = message.get("content")
    if isinstance(content, str):
        return dict(message, content=[{"type": "text", "text": content, "cache_control": hint}]) if content else None
    if not isinstance(content, list):
        return None
    if any(isinstance(p, dict) and (p.get("cache_control") is not None or p.get("prompt_cache_breakpoint") is not None) for p in content):
        return None
    for j in range(len(content) - 1, -1, -1):
        part = content[j]
        if isinstance(part, dict) and part.get("type") == "text":
            return dict(message, content=[*content[:j], dict(part, cache_control=hint), *content[j + 1 :]])
    return None


def without_hints(body: dict[str, Any], parts: bool, tools: bool) -> dict[str, Any]:
    """``body`` without ``cache_control`` on its content parts and/or tools (copies where it
    changes; the body itself stays as the client sent it)."""
    out = dict(body)
    if tools and isinstance(body.get("tools"), list):
        out["tools"] = [_unhinted(t) for t in body["tools"]]
    messages = body.get("messages")
    if parts and isinstance(messages, list):
        out["messages"] = [
            dict(m, content=[_unhinted(p) for p in m["content"]]) if isinstance(m, dict) and isinstance(m.get("content"), list) else m for m in messages
        ]
    return out


def _unhinted(item: Any) -> Any:
    if isinstance(item, dict) and "cache_control" in item:
        return {k: v for k, v in item.items() if k != "cache_control"}
    return item
