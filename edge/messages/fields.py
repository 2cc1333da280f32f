"""The generated Messages rows of the compatibility table (README.md, docs/compatibility.md).

One row per field and content block of a Messages request (edge/messages/bridge.RULES), one
column per provider kind (adapters/__init__.KINDS): a kind whose adapter speaks the Messages API
(``native_messages``) passes everything as sent; for the others the cell composes the bridge's
rule with the kind's own rule for the chat field it becomes, so the table says what really
happens to the field on that route, from the same declarations the gateway enforces.
"""

from __future__ import annotations

from edge.adapters import KINDS
from edge.adapters.fields import FieldTable

from .bridge import RULES, Rule

__all__ = ["SPEC", "markdown_messages", "native_kinds"]

SPEC = "Anthropic Messages API, anthropic-sdk-python MessageCreateParams"


def native_kinds() -> frozenset[str]:
    """The kinds whose adapter speaks the Messages API itself."""
    out = set()
    for name, kind in KINDS.items():
        adapter = kind.build("http://127.0.0.1:1", None, {}, kind.options())
        if adapter.native_messages is not None:
            out.add(name)
    return frozenset(out)


def _cell(rule: Rule, table: FieldTable | None) -> str:
    if rule.action != "translated":
        return rule.action
    if rule.chat is None:
        return "translated"
    text = f"translated -> `{rule.chat}`"
    chat = table.rules.get(rule.chat) if table is not None else None
    if chat is None or table is None or table.passes_everything:
        return text
    if chat.action == "translated" and chat.upstream:
        text += f" -> `{chat.upstream}`"
    elif chat.action != "translated":
        text += f" ({chat.action} there)"
    return text + "".join(f"; {v.label}: {v.action}" for v in chat.values)


def markdown_messages() -> str:
    kinds = list(KINDS)
    native = native_kinds()
    lines = [f"| field ({SPEC}) | " + " | ".join(kinds) + " | why, or how (bridged) |", "| --- |" + " --- |" * (len(kinds) + 1)]
    for name, rule in RULES.items():
        cells = ["passed (the bytes as sent)" if kind in native else _cell(rule, KINDS[kind].fields) for kind in kinds]
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {rule.note} |")
    lines.append("| any other field | " + " | ".join("passed" if kind in native else "refused" for kind in kinds) + " | a field the bridge does not know |")
    return "\n".join(lines)
