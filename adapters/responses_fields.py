"""What each provider kind does with each field of a Responses API request: derived, not written.

A route that speaks the Responses API (``responses: native``: OpenAI's own API by default, the
mock) gets every field as sent. Every other route is bridged (adapters/responses_bridge.py):
each Responses field with a chat counterpart becomes that chat field and then meets the kind's
own chat declaration (its ``FIELDS``, adapters/fields.py), so the Responses table cannot say more
than the chat table it is made from; built-in tools and the fields chat cannot carry are refused;
what the gateway does itself (stored conversations, ``include``, streaming) is the same for
every kind. The README and docs/compatibility.md show the generated table
(tests/adapters/test_responses_fields.py keeps them current).

Fields: the properties of ``CreateResponse`` in openai-openapi 2.3.0 (RESPONSES_SPEC), plus the
input item and tool kinds a bridge must handle.
"""

from __future__ import annotations

from collections.abc import Mapping

from .fields import FieldRule, FieldTable
from .responses_bridge import BUILTIN_TOOLS, RESPONSES_TO_CHAT

__all__ = ["GATEWAY", "RESPONSES_FIELDS", "RESPONSES_SPEC", "responses_markdown", "responses_cell"]

RESPONSES_SPEC = "openai-openapi 2.3.0 CreateResponse"

RESPONSES_FIELDS: tuple[str, ...] = (
    "model", "input", "instructions", "stream", "stream_options", "store", "previous_response_id", "include",
    "tools", "tool_choice", "parallel_tool_calls", "max_tool_calls", "text", "reasoning", "max_output_tokens",
    "temperature", "top_p", "top_logprobs", "truncation", "metadata", "user", "safety_identifier",
    "prompt_cache_key", "prompt_cache_retention", "service_tier", "background", "conversation", "prompt",
)

# What the gateway itself does with a field, for every provider kind.
GATEWAY: Mapping[str, str] = {
    "model": "gateway: routes (a configured model or `<provider>/<model>`); the upstream model is set per route",
    "stream": "gateway: SSE in the documented event order, `sequence_number` from 0",
    "stream_options": "gateway: not sent (`include_obfuscation` has no bridged meaning)",
    "store": "gateway: kept in the ledger's store (default true; false: nothing kept, 404 on retrieve)",
    "previous_response_id": "gateway: the stored history is replayed to the route (the route that answered it first)",
    "include": "gateway: reasoning signatures always come back as `encrypted_content` where the provider gives one",
    "truncation": "gateway: not applied (a context overflow is an error, and routes to a larger window)",
    "background": "gateway: refused (`true`: background responses are not kept running)",
    "conversation": "refused (the Conversations API is not served: use `previous_response_id`)",
}

_NESTED: tuple[tuple[str, str, str], ...] = (
    # (row, how the bridge carries it, the chat field whose rule decides)
    ("input: `message` (`input_text`, `output_text`)", "translated -> chat `messages`", "messages"),
    ("input: `input_image` (URL or data URL)", "translated -> chat `image_url`", "messages"),
    ("input: `input_image` / `input_file` by `file_id`, `file_url`", "refused (the file lives on OpenAI's side)", ""),
    ("input: `input_file` (`file_data`)", "translated -> chat `file` part", "messages"),
    ("input: `function_call` + `function_call_output`", "translated -> chat `tool_calls` + `tool` message (by `call_id`)", "messages"),
    ("input: `reasoning` (summary, `encrypted_content`)", "translated -> the next assistant turn's `reasoning_content` / signature", "messages"),
    ("input: `item_reference`", "refused (names an item in OpenAI's store; send the item)", ""),
    ("input: hosted tool items (`web_search_call`, ...)", "refused (only the tool's own server can replay them)", ""),
    ("tools: `function`", "translated -> chat function tools", "tools"),
    ("tools: `custom`", "translated -> chat custom tools", "tools:custom"),
    ("tools: built-in (" + ", ".join(f"`{t}`" for t in sorted(BUILTIN_TOOLS) if "20" not in t) + ")", "refused, naming the tool and the provider", ""),
)

_NOT_BRIDGED = {"max_tool_calls": "refused (chat has no limit on tool calls)", "prompt": "refused (prompt templates live on OpenAI's side)"}
_VIA = {"text": "response_format", "reasoning": "reasoning_effort"}


def responses_cell(name: str, chat: FieldTable | None) -> str:
    """One field's action on a bridged route whose kind has the chat table ``chat``."""
    if name in GATEWAY:
        return GATEWAY[name]
    if name in _NOT_BRIDGED:
        return _NOT_BRIDGED[name]
    target = RESPONSES_TO_CHAT.get(name)
    if target is None or chat is None:
        return "passed"
    rule = chat.rules.get(target)
    via = f"chat `{target}`"
    if rule is None:
        return f"translated -> {via}"
    cell = f"{_action(rule)} (via {via})"
    if name == "text" and "verbosity" in chat.rules:  # text.verbosity -> chat verbosity
        cell = f"format: {cell}; verbosity: {_action(chat.rules['verbosity'])} (via chat `verbosity`)"
    return cell


def _action(rule: FieldRule) -> str:
    text = rule.action + (f" -> `{rule.upstream}`" if rule.action == "translated" and rule.upstream else "")
    for value in rule.values:
        text += f"; {value.label}: {value.action}"
    return text


def responses_markdown(tables: Mapping[str, FieldTable], native: frozenset[str]) -> str:
    """The field x route table: ``tables`` are the chat declarations by column, ``native`` the
    columns whose routes speak Responses (every field passed as sent)."""
    columns = list(tables)
    lines = [f"| field ({RESPONSES_SPEC}) | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name in RESPONSES_FIELDS:
        cells = [_native(name) if c in native else responses_cell(name, tables[c]) for c in columns]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    for row, how, chat_field in _NESTED:
        cells = []
        for c in columns:
            if c in native:
                cells.append("passed")
            else:
                cells.append(_nested(tables[c], chat_field) or how)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("| any other field | " + " | ".join("passed" if c in native else _other(tables[c]) for c in columns) + " |")
    return "\n".join(lines)


_NATIVE = {
    "model": "passed (the route's upstream model)",
    "store": "passed; gateway: kept in the ledger's store too",
    "previous_response_id": "gateway: the stored history replayed as `input` (an id it does not know: passed)",
    "background": GATEWAY["background"],
}


def _nested(table: FieldTable, chat_field: str) -> str | None:
    """A refusal of the chat field (or of its values matching ``field:label``), if any."""
    name, _, label = chat_field.partition(":")
    rule = table.rules.get(name) if name else None
    if rule is None:
        return None
    if label:
        found = [v.action for v in rule.values if label in v.label]
        return found[0] + " (the kind's chat rule)" if found and found[0] in ("refused", "ignored") else None
    return rule.action + " (the kind's chat rule)" if rule.action in ("refused", "ignored") else None


def _native(name: str) -> str:
    return _NATIVE.get(name, "passed")


def _other(table: FieldTable) -> str:
    return "passed (into the chat body)" if table.unknown == "passed" else f"{table.unknown} (the kind's chat rule)"
