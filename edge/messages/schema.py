"""Typed structs for checking an inbound Anthropic Messages request (wire-formats.md section 2.2).

They validate what the gateway reads (model, max_tokens, messages and their roles, the shapes of
system, tools and tool_choice) so a malformed request is a 400 naming the path before any
upstream call; the raw body travels beside them, so a pass-through route gets exactly what the
client sent and the bridge (edge/messages/bridge.py) reads every other field from it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from msgspec import Meta, Struct

__all__ = ["CountTokensRequest", "MessageParam", "MessagesRequest"]


class MessageParam(Struct):
    # "system" is the newest SDKs' mid-conversation system entry (Claude Code sends one).
    role: Literal["user", "assistant", "system"]
    content: Union[str, list[dict[str, Any]]]


class ToolParam(Struct, omit_defaults=True):
    name: Annotated[str, Meta(min_length=1)]
    type: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(Struct, omit_defaults=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(Struct, omit_defaults=True):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: Annotated[int, Meta(ge=0)] | None = None
    display: str | None = None


class _Common(Struct, omit_defaults=True):
    model: Annotated[str, Meta(min_length=1)]
    messages: Annotated[list[MessageParam], Meta(min_length=1)]
    system: Union[str, list[dict[str, Any]], None] = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None


class MessagesRequest(_Common, omit_defaults=True):
    """POST /v1/messages: the fields the gateway reads or checks."""

    max_tokens: Annotated[int, Meta(ge=1)] = 0  # required: checked by the handler (a clear message)
    stream: bool | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: Annotated[int, Meta(ge=0)] | None = None
    metadata: dict[str, Any] | None = None


class CountTokensRequest(_Common, omit_defaults=True):
    """POST /v1/messages/count_tokens."""
