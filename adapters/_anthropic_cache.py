"""Anthropic prompt caching on a translated request: which blocks carry ``cache_control``.

Anthropic's prompt caching (docs "Prompt caching"; wire-formats 2.3): the block that ends a
reusable prefix (a tool, a system block, a message's content block) carries ``cache_control``
``{"type": "ephemeral"}``, with ``"ttl": "1h"`` for the hour-long cache, and a request may mark
at most ``MAX_BREAKPOINTS`` blocks. A chat part's own ``cache_control`` (the OpenRouter/LiteLLM
convention) or its ``prompt_cache_breakpoint`` becomes that mark; content folded into one block
keeps the mark of its last marked part. Used by the anthropic adapter (adapters/anthropic.py).
"""

from __future__ import annotations

from typing import Any

from ._common import message_text
from .schema import CacheControl, ContentPart
from .types import Unsupported

__all__ = ["MAX_BREAKPOINTS", "cached", "check_breakpoints", "hint", "last_mark", "mark", "system_blocks"]

MAX_BREAKPOINTS = 4


def system_blocks(content: Any) -> list[dict[str, Any]]:
    """A system/developer message as system text blocks: one (as the SDKs send it), or one per
    part when a part marks a cache breakpoint, so the mark stays where the client put it."""
    if isinstance(content, list) and last_mark(content) is not None:
        return [cached({"type": "text", "text": p.text or ""}, mark(p)) for p in content if p.type == "text"]
    text = message_text(content)
    return [{"type": "text", "text": text}] if text else []


def hint(given: CacheControl) -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": given.ttl} if given.ttl else {"type": "ephemeral"}


def mark(part: ContentPart) -> dict[str, Any] | None:
    """The cache_control a part asks for: its own ``cache_control``, or ephemeral (5 minutes)
    for a ``prompt_cache_breakpoint``."""
    if part.cache_control is not None:
        return hint(part.cache_control)
    return {"type": "ephemeral"} if part.prompt_cache_breakpoint is not None else None


def last_mark(content: Any) -> dict[str, Any] | None:
    """Content folded into one block keeps the mark of its last marked part."""
    if not isinstance(content, list):
        return None
    marks = [m for m in (mark(p) for p in content) if m is not None]
    return marks[-1] if marks else None


def cached(block: dict[str, Any], mark: dict[str, Any] | None) -> dict[str, Any]:
    # Anthropic's prompt caching: the block that ends a reusable prefix carries cache_control.
    if mark is not None:
        block["cache_control"] = mark
    return block


def check_breakpoints(out: dict[str, Any]) -> None:
    """At most MAX_BREAKPOINTS blocks (tools, system, messages) may carry cache_control."""
    count = sum(1 for tool in out.get("tools") or () if "cache_control" in tool)
    count += sum(1 for block in out.get("system") or () if "cache_control" in block)
    for turn in out["messages"]:
        content = turn["content"]
        if isinstance(content, list):
            count += sum(1 for block in content if "cache_control" in block)
    if count > MAX_BREAKPOINTS:
        raise Unsupported(
            f"Anthropic allows at most {MAX_BREAKPOINTS} cache breakpoints (cache_control on content parts and tools) per request; this request has {count}."
        )
