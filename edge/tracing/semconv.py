"""Attribute values by the OpenTelemetry GenAI semantic conventions, from the gateway's own types.

Names follow https://opentelemetry.io/docs/specs/semconv/registry/attributes/gen-ai/ (the
"latest experimental" GenAI conventions: ``gen_ai.provider.name``, not the older
``gen_ai.system``). ``gen_ai.usage.input_tokens`` includes cached tokens and
``gen_ai.usage.output_tokens`` includes reasoning tokens, as OpenAI counts them and as the
conventions ask; ``gen_ai.usage.cache_read.input_tokens`` and
``gen_ai.usage.reasoning.output_tokens`` give the parts. Messages for the opt-in content
attributes follow the conventions' input/output message JSON schemas (role plus typed parts).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from edge.adapters.types import Usage
from edge.fastpath import jsonio

__all__ = ["input_messages", "output_messages", "provider_name", "server_address", "usage_attributes"]

# gen_ai.provider.name's well-known values: a provider configured under one of these names is
# that vendor, whatever wire format it speaks.
_WELL_KNOWN = frozenset((
    "anthropic", "aws.bedrock", "azure.ai.inference", "azure.ai.openai", "cohere", "deepseek", "gcp.gemini",
    "gcp.gen_ai", "gcp.vertex_ai", "groq", "ibm.watsonx.ai", "mistral_ai", "openai", "perplexity", "x_ai",
))
# Otherwise the wire format's vendor: the conventions call gen_ai.provider.name "the telemetry
# format flavor" and leave the real host to server.address.
_BY_KIND = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "ollama": "ollama", "mock": "mock"}


def provider_name(name: str, kind: str) -> str:
    return name if name in _WELL_KNOWN else _BY_KIND.get(kind, kind)


def server_address(base_url: str) -> dict[str, Any]:
    """server.address and server.port of an upstream (nothing for an unset URL)."""
    if not base_url:
        return {}
    parts = urlsplit(base_url)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


def usage_attributes(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    out: dict[str, Any] = {"gen_ai.usage.input_tokens": usage.prompt_tokens, "gen_ai.usage.output_tokens": usage.completion_tokens}
    if usage.cached_tokens:
        out["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if usage.estimated:
        out["edge.usage_estimated"] = True  # the upstream reported nothing; the gateway counted
    return out


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if message.get("role") == "tool":
        return [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text")})
            elif part.get("type") == "image_url":
                image = part.get("image_url")
                parts.append({"type": "uri", "modality": "image", "uri": image.get("url") if isinstance(image, dict) else image})
            else:
                parts.append({"type": str(part.get("type"))})
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments")})
    return parts


def input_messages(messages: Any) -> str | None:
    """gen_ai.input.messages as a JSON string, from OpenAI chat messages."""
    if not isinstance(messages, list):
        return None
    out = [{"role": m.get("role"), "parts": _parts(m)} for m in messages if isinstance(m, dict)]
    return jsonio.dumps(out).decode()


def output_messages(document: dict[str, Any]) -> str | None:
    """gen_ai.output.messages as a JSON string, from a chat.completion's choices."""
    choices = document.get("choices")
    if not isinstance(choices, list):
        return None
    out = []
    for choice in choices:
        if isinstance(choice, dict):
            message = choice.get("message") or {}
            out.append({"role": message.get("role", "assistant"), "parts": _parts(message), "finish_reason": choice.get("finish_reason")})
    return jsonio.dumps(out).decode()
