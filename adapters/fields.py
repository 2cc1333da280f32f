"""What each provider kind does with each field of an OpenAI chat request: the declarations.

Every field of ``CreateChatCompletionRequest`` in the official OpenAI description
(``CHAT_SPEC``; shared/reference/wire-formats.md sections 1.2 and 1.3), plus the two fields
inside messages a translation can lose (a message's ``name`` and a content part's
``prompt_cache_breakpoint``) and the prompt-cache hints of the OpenRouter/LiteLLM convention
(``cache_control`` on a content part or a tool), gets one action per provider kind:

- ``translated``: the adapter carries it into the provider's own slot (``upstream`` names it);
- ``passed``: it reaches the upstream as sent (OpenAI-format upstreams);
- ``refused``: it changes the answer and the provider cannot honour it: 400
  ``unsupported_parameter`` before any upstream call, unless the request or the config asks to
  drop such fields (then it is left out and named);
- ``ignored``: it changes no output (bookkeeping such as ``store`` or ``metadata``): left out
  and named.

A rule may depend on the value (``tool_choice: "required"`` on Ollama, ``n`` above 1): its
``values`` are checked in order and the first that matches decides. Each adapter module declares
its table (``FIELDS``) on its ``ProviderKind``; the gateway's check (edge/params.py), the tests
and the generated table in docs/compatibility.md all read these tables, so they cannot drift.
A top-level field outside the spec is a vendor field: passed to OpenAI-format upstreams, and to
a translated provider only when it is one of the provider's own request fields (``native``),
else refused by the same rule. This module is pure: data, and reading a body against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

__all__ = [
    "CACHE_BREAKPOINT",
    "CACHE_CONTROL",
    "CHAT_FIELDS",
    "CHAT_SPEC",
    "DECLARED",
    "MESSAGE_NAME",
    "MOCK_KNOBS",
    "TOOL_CACHE_CONTROL",
    "UNKNOWN",
    "Action",
    "FieldRule",
    "FieldTable",
    "Finding",
    "ValueRule",
    "assess",
    "ignored",
    "passed",
    "refused",
    "translated",
    "when",
]

CHAT_SPEC = "openai-openapi 2.3.0 CreateChatCompletionRequest"

# The properties of CreateChatCompletionRequest in openai-openapi 2.3.0, in the spec's order.
CHAT_FIELDS: tuple[str, ...] = (
    "metadata", "top_logprobs", "temperature", "top_p", "user", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention", "prompt_cache_options", "messages", "model", "service_tier", "modalities",
    "verbosity", "reasoning_effort", "max_completion_tokens", "frequency_penalty", "presence_penalty",
    "web_search_options", "response_format", "audio", "store", "moderation", "stream", "stop", "logit_bias",
    "logprobs", "max_tokens", "n", "prediction", "seed", "stream_options", "tools", "tool_choice",
    "parallel_tool_calls", "function_call", "functions",
)

# Fields inside messages (spec 2.3.0: every message's ``name``; every content part's
# ``prompt_cache_breakpoint``), named as the table, the header and the metric show them.
MESSAGE_NAME = "messages[].name"
CACHE_BREAKPOINT = "messages[].content[].prompt_cache_breakpoint"
# Outside the spec, the prompt-cache hint OpenRouter and LiteLLM accept (Anthropic's shape):
# ``{"type": "ephemeral", "ttl": "5m" | "1h"}`` on a content part or on a tool.
CACHE_CONTROL = "messages[].content[].cache_control"
TOOL_CACHE_CONTROL = "tools[].cache_control"

DECLARED: tuple[str, ...] = CHAT_FIELDS + (MESSAGE_NAME, CACHE_BREAKPOINT, CACHE_CONTROL, TOOL_CACHE_CONTROL)
_DECLARED = frozenset(DECLARED)

# The metric label of every vendor field (client-chosen names would make labels unbounded).
UNKNOWN = "unknown"

# The mock provider's per-request knobs (adapters/mock): it speaks every dialect, so every
# kind passes them on; a real upstream rejects the field like any other it does not know.
MOCK_KNOBS = "mock"

Action = Literal["translated", "passed", "refused", "ignored"]
Test = Callable[[Any, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class ValueRule:
    """The action for some values of a field: ``test(value, whole body)`` says which."""

    label: str  # the values it covers, as the table shows them
    test: Test
    action: Action
    upstream: str | None = None
    # Dropping (a refused value with drop_params): what stays of the value; None drops the field.
    keep: Callable[[Any], Any] | None = None
    note: str = ""  # why (a refusal's message); the field's own note when empty


@dataclass(frozen=True)
class FieldRule:
    action: Action
    upstream: str | None = None  # where the provider gets it (a dotted path in its body, or "URL")
    note: str = ""  # why, or how: shown in the table and in a refusal's message
    values: tuple[ValueRule, ...] = ()

    def decide(self, value: Any, body: Mapping[str, Any]) -> tuple[Action, ValueRule | None]:
        for rule in self.values:
            if rule.test(value, body):
                return rule.action, rule
        return self.action, None


def translated(upstream: str | None = None, note: str = "", *values: ValueRule) -> FieldRule:
    return FieldRule("translated", upstream, note, values)


def passed(note: str = "") -> FieldRule:
    return FieldRule("passed", None, note)


def refused(note: str, *values: ValueRule) -> FieldRule:
    return FieldRule("refused", None, note, values)


def ignored(note: str, *values: ValueRule) -> FieldRule:
    return FieldRule("ignored", None, note, values)


def when(label: str, test: Test, action: Action, upstream: str | None = None, *, keep: Callable[[Any], Any] | None = None, note: str = "") -> ValueRule:
    return ValueRule(label, test, action, upstream, keep, note)


@dataclass(frozen=True)
class FieldTable:
    """One kind's declaration: a rule for every declared field, and what other fields get."""

    rules: Mapping[str, FieldRule]
    # The provider dialect's own top-level request fields, passed on as sent (extra_body).
    native: frozenset[str] = frozenset()
    # Any other top-level field (a vendor extension).
    unknown: Action = "refused"
    passes_everything: bool = field(init=False)
    # Every top-level field and vendor field passes (only fields inside messages may not): the
    # OpenAI-format kind, whose requests then cost one walk of the messages, not of the body.
    top_passes: bool = field(init=False)

    def __post_init__(self) -> None:
        top = self.unknown == "passed" and all(self.rules[n].action == "passed" and not self.rules[n].values for n in CHAT_FIELDS if n in self.rules)
        every = top and all(r.action == "passed" and not r.values for r in self.rules.values())
        object.__setattr__(self, "passes_everything", every)
        object.__setattr__(self, "top_passes", top)

    def missing(self) -> list[str]:
        """Declared fields of the spec this table has no rule for (a test holds this empty)."""
        return [name for name in DECLARED if name not in self.rules]

    @classmethod
    def passthrough(cls, note: str = "sent as it is") -> FieldTable:
        """An OpenAI-format upstream: every field, and every vendor field, reaches it as sent."""
        return cls({name: passed(note) for name in DECLARED}, unknown="passed")


class Finding(NamedTuple):
    """A field of one request that a kind refuses or ignores."""

    name: str  # the declared name (or the vendor field's own name)
    param: str  # where in the request (``messages[2].name``), for the error envelope
    action: Action  # refused or ignored
    note: str  # why
    keep: Callable[[Any], Any] | None  # dropping a refused value: what stays (top-level only)


def assess(table: FieldTable, body: Mapping[str, Any]) -> list[Finding]:
    """The fields of ``body`` this kind refuses or ignores, in the body's order. A null value is
    the spec's default and counts as absent."""
    found: list[Finding] = []
    rules = table.rules
    for name, value in () if table.top_passes else body.items():
        if value is None:
            continue
        rule = rules.get(name)
        if rule is None:
            if name in table.native or name == MOCK_KNOBS or table.unknown != "refused":
                continue
            found.append(Finding(name, name, "refused", "a field this provider does not know", None))
            continue
        action, value_rule = rule.decide(value, body)
        if action in ("refused", "ignored"):
            note = (value_rule.note or rule.note) if value_rule is not None else rule.note
            found.append(Finding(name, name, action, note, value_rule.keep if value_rule is not None else None))
    messages = body.get("messages")
    if isinstance(messages, list) and not table.passes_everything:
        _nested(table, messages, body, found)
    return found


def _nested(table: FieldTable, messages: list[Any], body: Mapping[str, Any], found: list[Finding]) -> None:
    rules = table.rules
    name_at = mark_at = hint_at = tool_at = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        if name_at is None and message.get("name") is not None:
            name_at = f"messages[{i}].name"
        content = message.get("content")
        if isinstance(content, list) and (mark_at is None or hint_at is None):
            for j, part in enumerate(content):
                if not isinstance(part, dict):
                    continue
                if mark_at is None and part.get("prompt_cache_breakpoint") is not None:
                    mark_at = f"messages[{i}].content[{j}].prompt_cache_breakpoint"
                if hint_at is None and part.get("cache_control") is not None:
                    hint_at = f"messages[{i}].content[{j}].cache_control"
    tools = body.get("tools")
    if isinstance(tools, list):
        tool_at = next((f"tools[{k}].cache_control" for k, t in enumerate(tools) if isinstance(t, dict) and t.get("cache_control") is not None), None)
    for name, at in ((MESSAGE_NAME, name_at), (CACHE_BREAKPOINT, mark_at), (CACHE_CONTROL, hint_at), (TOOL_CACHE_CONTROL, tool_at)):
        rule = rules[name]
        if at is not None and rule.action in ("refused", "ignored"):
            found.append(Finding(name, at, rule.action, rule.note, None))


def is_declared(name: str) -> bool:
    return name in _DECLARED


# -- the generated compatibility table (README.md, docs/compatibility.md) ----------------------


def markdown(tables: Mapping[str, FieldTable]) -> tuple[str, str]:
    """The field x kind table of actions, and the table of why and how for the kinds that
    translate, from the declarations."""
    kinds = list(tables)
    lines = [f"| field ({CHAT_SPEC}) | " + " | ".join(kinds) + " |", "| --- |" + " --- |" * len(kinds)]
    for name in DECLARED:
        lines.append(f"| `{name}` | " + " | ".join(_cell(tables[k].rules[name]) for k in kinds) + " |")
    lines.append("| any other field | " + " | ".join(_other(tables[k]) for k in kinds) + " |")
    translating = [k for k in kinds if not tables[k].passes_everything]
    notes = ["| field | " + " | ".join(translating) + " |", "| --- |" + " --- |" * len(translating)]
    for name in DECLARED:
        cells = [_why(tables[k].rules[name]) for k in translating]
        if any(cells):
            notes.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines), "\n".join(notes)


def _why(rule: FieldRule) -> str:
    parts = [rule.note] if rule.note else []
    parts += [f"{v.label}: {v.note}" for v in rule.values if v.note]
    return "; ".join(parts)


def _cell(rule: FieldRule) -> str:
    text = rule.action + (f" -> `{rule.upstream}`" if rule.action == "translated" and rule.upstream else "")
    for value in rule.values:
        text += f"; {value.label}: {value.action}" + (f" -> `{value.upstream}`" if value.upstream else "")
    return text


def _other(table: FieldTable) -> str:
    if table.unknown == "passed":
        return "passed"
    own = ", ".join(f"`{name}`" for name in sorted(table.native))
    return f"{table.unknown}; its own fields passed: {own}" if own else table.unknown
