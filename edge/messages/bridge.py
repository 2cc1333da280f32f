"""An Anthropic Messages request as an OpenAI chat request, for the routes that do not speak it.

Follows shared/reference/wire-formats.md section 2.2 (the Messages request) and section 1 (chat).
Every field and content block a Messages client sends is declared in ``RULES``: translated into
a chat field (which the route's own table, adapters/fields.py, then holds to its provider like
any chat request: edge.params.prepare_chat), ignored (changes no output; named in
x-edge-dropped-params), or refused (400 naming the field and the provider; nothing is sent):

- ``system`` (a string or text blocks) -> a first system message; a ``role: "system"`` entry in
  ``messages`` stays a system message where it stands.
- text, images (base64 -> data URLs, url -> image_url), PDF documents (base64 -> a file part),
  plain-text documents (-> text) -> content parts.
- ``tool_use`` -> the assistant's tool_calls, ``tool_result`` -> tool messages (paired by id;
  ``is_error`` results say so in their text). Ids the client got from a bridged route are
  ``toolu_`` ids made from the provider's own (``toolu_<id>``, or ``toolu_b64_<base64url>`` when
  the id holds other characters, as Gemini's signed ids do); they are mapped back here.
- tools with ``input_schema`` -> function tools (``strict`` kept, ``defer_loading`` tools sent up
  front: no tool search when bridged); ``tool_choice`` auto/any/tool/none -> auto/required/a
  named function/none, ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``.
- ``thinking`` (enabled with a budget, adaptive) and ``output_config.effort`` ->
  ``reasoning_effort`` (budget below 2048 low, below 16384 medium, else high; adaptive medium;
  effort wins); thinking blocks of earlier turns are not sent back (Anthropic drops them too).
- ``stop_sequences`` -> ``stop``; ``metadata.user_id`` -> ``user``; ``max_tokens`` ->
  ``max_completion_tokens``; ``output_config.format`` -> ``response_format`` json_schema.
- Prompt-cache breakpoints (``cache_control``, "Prompt caching") -> the chat hint of the same
  shape on the part or tool they end (adapters/fields.py CACHE_CONTROL, TOOL_CACHE_CONTROL:
  the OpenRouter/LiteLLM convention), ttl kept: on system blocks and tool results too, and the
  top-level one on the last part. Each route's table then decides, as for a chat client's own
  hints: passed where the provider takes them (an OpenAI-format provider with ``cache_control:
  pass``, the mock), else left out and named (OpenAI, Gemini and Ollama cache prefixes on their
  own). A hint on a tool_use or thinking block has no chat place: named. (edge/messages/hints.py)
- Server tools, MCP servers, containers, citations, search results and file ids have no chat
  equivalent: refused.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge.fastpath import jsonio

from .hints import hinted_result, hinted_text, last_part_hint, with_hint

__all__ = ["RULES", "BridgeFinding", "Rule", "assess_messages", "client_tool_id", "to_chat", "upstream_tool_id"]

Action = Literal["translated", "ignored", "refused"]


@dataclass(frozen=True)
class Rule:
    action: Action
    chat: str | None = None  # the chat field it becomes (its kind's own rule then applies)
    note: str = ""


def _t(chat: str | None, note: str = "") -> Rule:
    return Rule("translated", chat, note)


def _i(note: str) -> Rule:
    return Rule("ignored", None, note)


def _r(note: str) -> Rule:
    return Rule("refused", None, note)


# Every Messages request field and content block (anthropic-sdk-python's MessageCreateParams and
# the block params), in the order the compatibility table shows them.
RULES: Mapping[str, Rule] = {
    "model": _t("model"),
    "max_tokens": _t("max_completion_tokens"),
    "messages": _t("messages"),
    "system": _t("messages", "a system message first (text blocks joined)"),
    "messages[].role: system": _t("messages", "a system message where it stands"),
    "stream": _t("stream"),
    "stop_sequences": _t("stop"),
    "temperature": _t("temperature"),
    "top_p": _t("top_p"),
    "top_k": _r("chat has no top_k"),
    "metadata.user_id": _t("user"),
    "tools": _t("tools", "input_schema -> function parameters; strict kept"),
    "tools[].defer_loading": _t("tools", "the tool is sent up front (no tool search when bridged)"),
    "tools[].cache_control": _t("tools[].cache_control", "the hint on the tool, ttl kept; sent to an openai provider with cache_control: pass (OpenRouter, LiteLLM)"),
    "tools[]: server tools": _r("Anthropic's server tools (web search, code execution, bash, text editor, ...) run only at Anthropic"),
    "tool_choice": _t("tool_choice", "auto, none; any -> required; tool -> a named function"),
    "tool_choice.disable_parallel_tool_use": _t("parallel_tool_calls", "true -> parallel_tool_calls: false"),
    "thinking": _t("reasoning_effort", "budget < 2048 low, < 16384 medium, else high; adaptive medium; disabled: not sent"),
    "thinking.display": _t(None, "omitted: reasoning text is not shown (no thinking blocks)"),
    "output_config.effort": _t("reasoning_effort", "low, medium, high; xhigh and max -> high; wins over thinking"),
    "output_config.format": _t("response_format", "json_schema -> response_format json_schema"),
    "context_management": _i("context editing acts only on Anthropic's side; a bridged route gets the history as sent"),
    "cache_control": _t("messages[].content[].cache_control", "the hint on the last part (where Anthropic puts it: the last cacheable block)"),
    "service_tier": _i("Anthropic's capacity tier; no output changes"),
    "mcp_servers": _r("Anthropic's MCP connector runs only at Anthropic"),
    "container": _r("Anthropic's code-execution containers exist only at Anthropic"),
    "content: text": _t("messages[].content", "text parts"),
    "content: image": _t("messages[].content", "base64 -> data URL image_url; url -> image_url"),
    "content: image (file source)": _r("a file id means something only at Anthropic"),
    "content: document": _t("messages[].content", "base64 PDF -> a file part; plain text -> text"),
    "content: document (url or file source)": _r("chat takes documents inline only"),
    "content: tool_use": _t("messages[].tool_calls", "paired by id; toolu_ ids mapped back"),
    "content: tool_result": _t("messages[role=tool]", "text; is_error results say so in their text"),
    "content: tool_result with images": _r("chat tool messages carry text only"),
    "content: thinking, redacted_thinking": _t(None, "not sent back: earlier turns' reasoning is dropped, as Anthropic drops it"),
    "content[].cache_control": _t("messages[].content[].cache_control", "the hint on the part the block becomes (system blocks and tool results too), ttl kept; sent to an openai provider with cache_control: pass (OpenRouter, LiteLLM)"),
    "content[].cache_control on tool_use, thinking": _i("a cache hint; chat has no place for it on a tool call or reasoning"),
    "content[].citations": _r("citations are made only by Anthropic"),
    "content: other blocks": _r("server-tool blocks, search results and container uploads exist only at Anthropic"),
}

_TOP_LEVEL = {"model", "max_tokens", "messages", "system", "stream", "stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking",
              "context_management", "cache_control", "service_tier", "mcp_servers", "container", "metadata", "output_config"}
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class BridgeFinding(Exception):
    """A field of the request that the bridge refuses or ignores; ``param`` says where."""

    def __init__(self, name: str, param: str, rule: Rule) -> None:
        super().__init__(f"{param} ({rule.note})")
        self.name, self.param, self.rule = name, param, rule


def client_tool_id(upstream_id: str) -> str:
    """A provider's tool-call id as a ``toolu_`` id (``^[a-zA-Z0-9_-]+$``), reversibly."""
    if _PLAIN_ID.match(upstream_id) and not upstream_id.startswith("b64_"):
        return "toolu_" + upstream_id
    return "toolu_b64_" + base64.urlsafe_b64encode(upstream_id.encode()).decode().rstrip("=")


def upstream_tool_id(client_id: str) -> str:
    """The id to send a bridged route for an id the client got from ``client_tool_id``."""
    if client_id.startswith("toolu_b64_"):
        data = client_id[10:]
        try:
            return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
        except ValueError:
            return client_id
    return client_id[6:] if client_id.startswith("toolu_") and len(client_id) > 6 else client_id


def assess_messages(body: Mapping[str, Any]) -> list[BridgeFinding]:
    """What the bridge refuses or ignores in this request, refusals first."""
    found: list[BridgeFinding] = []

    def note(name: str, param: str) -> None:
        rule = RULES[name]
        if rule.action != "translated" and all(f.name != name for f in found):
            found.append(BridgeFinding(name, param, rule))

    for key, value in body.items():
        if value is None or key == "mock":
            continue
        if key not in _TOP_LEVEL:
            found.append(BridgeFinding(key, key, _r("a field the Messages bridge does not know")))
        elif key in RULES:
            note(key, key)
    for i, tool in enumerate(body.get("tools") or ()):
        if not isinstance(tool, dict):
            continue
        if tool.get("type") not in (None, "custom") or "input_schema" not in tool:
            note("tools[]: server tools", f"tools[{i}]")
        if tool.get("cache_control") is not None:
            note("tools[].cache_control", f"tools[{i}].cache_control")
    system = body.get("system")
    if isinstance(system, list):
        _blocks(system, "system", note)
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            _blocks(content, f"messages[{i}].content", note)
    found.sort(key=lambda f: f.rule.action != "refused")
    return found


def _blocks(blocks: list[Any], at: str, note: Any) -> None:
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        kind, where = block.get("type"), f"{at}[{j}]"
        source = _obj(block.get("source"))
        if block.get("cache_control") is not None and kind in ("tool_use", "thinking", "redacted_thinking"):
            note("content[].cache_control on tool_use, thinking", where + ".cache_control")
        if block.get("citations") not in (None, False) and not (isinstance(block.get("citations"), dict) and not block["citations"].get("enabled")):
            note("content[].citations", where + ".citations")
        if kind == "image" and source.get("type") not in ("base64", "url"):
            note("content: image (file source)", where)
        elif kind == "document" and source.get("type") not in ("base64", "text", "content"):
            note("content: document (url or file source)", where)
        elif kind == "tool_result" and isinstance(block.get("content"), list):
            for k, inner in enumerate(block["content"]):
                if isinstance(inner, dict) and inner.get("type") != "text":
                    note("content: tool_result with images" if inner.get("type") == "image" else "content: other blocks", f"{where}.content[{k}]")
        elif kind not in ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"):
            note("content: other blocks", where)


# -- the translation -------------------------------------------------------------------------


def to_chat(body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The chat body for a Messages request the bridge accepts, and whether reasoning text
    is to be shown (thinking.display is not "omitted")."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": hinted_text(system) or _text_of(system)})
    for message in body.get("messages") or ():
        messages.extend(_turn(message))
    last_part_hint(messages, body.get("cache_control"))
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = body["max_tokens"]
    for key, chat_key in (("stream", "stream"), ("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(key) is not None:
            out[chat_key] = body[key]
    user = _obj(body.get("metadata")).get("user_id")
    if user:
        out["user"] = str(user)
    tools = [with_hint(_tool(t), t) for t in body.get("tools") or () if isinstance(t, dict)]
    if tools:
        out["tools"] = tools
    _choice(body.get("tool_choice"), out)
    thinking = _obj(body.get("thinking"))
    effort = _effort(thinking, body.get("output_config"))
    if effort is not None:
        out["reasoning_effort"] = effort
    fmt = _obj(body.get("output_config")).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.get("schema") or {"type": "object"}, "strict": True}}
    if body.get("mock") is not None:
        out["mock"] = body["mock"]  # the mock provider's knobs (adapters/mock)
    return out, thinking.get("display") != "omitted"


def _effort(thinking: Mapping[str, Any], config: Any) -> str | None:
    if isinstance(config, dict) and config.get("effort"):
        effort = str(config["effort"])
        return "high" if effort in ("xhigh", "max") else effort
    kind = thinking.get("type")
    if kind == "adaptive":
        return "medium"
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if isinstance(budget, int) else 0
        return "low" if budget < 2048 else "medium" if budget < 16384 else "high"
    return None


def _choice(choice: Any, out: dict[str, Any]) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    if choice.get("disable_parallel_tool_use") and out.get("tools"):
        out["parallel_tool_calls"] = False


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        fn["description"] = tool["description"]
    if tool.get("strict") is not None:
        fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def _turn(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One Messages turn -> chat messages (a user turn with tool results -> tool messages first,
    then the rest of the turn as a user message)."""
    role, content = message.get("role"), message.get("content")
    if role == "system":
        return [{"role": "system", "content": hinted_text(content) or _text_of(content)}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = [b for b in content or () if isinstance(b, dict)]
    if role == "assistant":
        text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
        calls = [
            {"id": upstream_tool_id(str(b.get("id") or "")), "type": "function", "function": {"name": b.get("name"), "arguments": jsonio.dumps(b.get("input") if b.get("input") is not None else {}).decode()}}
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        out: dict[str, Any] = {"role": "assistant", "content": hinted_text(blocks, "") or text or None}
        if calls:
            out["tool_calls"] = calls
        return [out] if text or calls else []
    results: list[dict[str, Any]] = [{"role": "tool", "tool_call_id": upstream_tool_id(str(b.get("tool_use_id") or "")), "content": hinted_result(_result_text(b), b)} for b in blocks if b.get("type") == "tool_result"]
    parts = [with_hint(p, b) for p, b in ((_part(b), b) for b in blocks if b.get("type") != "tool_result") if p is not None]
    if parts:
        results.append({"role": "user", "content": parts})
    return results


def _result_text(block: Mapping[str, Any]) -> str:
    content = block.get("content")
    text = content if isinstance(content, str) else _text_of(content or [])
    return f"Error: {text}" if block.get("is_error") else text


def _part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    source = _obj(block.get("source"))
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    if kind == "image":
        if source.get("type") == "base64":
            return {"type": "image_url", "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"}}
        return {"type": "image_url", "image_url": {"url": str(source.get("url") or "")}}
    if kind == "document":
        if source.get("type") == "base64":
            name = str(block.get("title") or "document.pdf")
            return {"type": "file", "file": {"filename": name, "file_data": f"data:{source.get('media_type')};base64,{source.get('data')}"}}
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data") or "")}
        return {"type": "text", "text": _text_of(source.get("content") or [])}
    return None  # thinking blocks of earlier turns: not sent back


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
