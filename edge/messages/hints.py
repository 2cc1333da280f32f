"""Anthropic prompt-cache breakpoints as chat cache hints, for the bridged routes.

Anthropic's ``cache_control`` ("Prompt caching") marks the end of a prefix worth caching: on a
system block, a content block (text, image, document, tool_result), a tool, or at the top level
(the last cacheable block). The chat convention OpenRouter and LiteLLM accept is the same object
on a content part or a tool (adapters/fields.py CACHE_CONTROL, TOOL_CACHE_CONTROL), so each
breakpoint goes to the part or tool its block becomes (edge/messages/bridge.py):

- text blocks that the bridge joins into one chat message (system, an assistant turn): the text
  is cut into parts that end where the hinted blocks end, so the joined text, which is what a
  route that leaves the hints out reads, stays what it was;
- a tool_result: the tool message's content as one text part with the hint;
- the top-level hint: on the last part of the last message with content.

Each route's own table then passes the hints or leaves them out and names them (edge.params).
Only ``{"type": "ephemeral", "ttl": "5m" | "1h"}`` is carried: the shape both sides define.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["hint", "hinted_result", "hinted_text", "last_part_hint", "with_hint"]


def hint(value: Any) -> dict[str, str] | None:
    """A breakpoint as the chat hint; None when ``value`` is none."""
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        return None
    ttl = value.get("ttl")
    return {"type": "ephemeral", "ttl": ttl} if ttl in ("5m", "1h") else {"type": "ephemeral"}


def with_hint(item: dict[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    """``item`` (a chat part or tool made from ``block``) with the block's hint."""
    found = hint(block.get("cache_control"))
    if found is not None:
        item["cache_control"] = found
    return item


def hinted_text(blocks: Any, sep: str = "\n") -> list[dict[str, Any]] | None:
    """Text blocks joined by ``sep`` as text parts cut after each hinted block; None when no
    text block has a hint (the caller keeps its plain string)."""
    if not isinstance(blocks, list):
        return None
    texts = [b for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    if not any(hint(b.get("cache_control")) is not None for b in texts):
        return None
    parts: list[dict[str, Any]] = []
    pending: list[str] = []
    for block in texts:
        pending.append(str(block.get("text") or ""))
        found = hint(block.get("cache_control"))
        if found is not None:
            parts.append({"type": "text", "text": (sep if parts else "") + sep.join(pending), "cache_control": found})
            pending = []
    if pending:
        parts.append({"type": "text", "text": sep + sep.join(pending)})
    return parts


def hinted_result(text: str, block: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """A tool message's content: the text, as one hinted part when the tool_result has a hint."""
    found = hint(block.get("cache_control"))
    return text if found is None else [{"type": "text", "text": text, "cache_control": found}]


def last_part_hint(messages: list[dict[str, Any]], value: Any) -> None:
    """The top-level hint on the last part of the last message with content (in place)."""
    found = hint(value)
    if found is None:
        return
    for message in reversed(messages):
        content = message.get("content")
        if isinstance(content, str) and content:
            message["content"] = [{"type": "text", "text": content, "cache_control": found}]
            return
        if isinstance(content, list) and content:
            last = content[-1]
            if last.get("cache_control") is None:
                content[-1] = dict(last, cache_control=found)
            return
