"""The field declarations themselves (adapters/fields.py): complete for every kind, true to the
spec, and the source of the generated tables in README.md and docs/compatibility.md.

``EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_fields.py`` rewrites the tables; otherwise a test
fails when a file no longer matches the declarations. The behaviour each declaration promises is
tested through the gateway in tests/adapters/test_fields_gateway.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from edge.adapters import KINDS
from edge.adapters.fields import CACHE_BREAKPOINT, CHAT_FIELDS, CHAT_SPEC, DECLARED, MESSAGE_NAME, MOCK_KNOBS, FieldTable, assess, markdown
from edge.adapters.gemini import FIELDS as GEMINI
from edge.adapters.ollama import FIELDS as OLLAMA

ROOT = Path(__file__).resolve().parents[2]
WIRE_FORMATS = ROOT.parent / "shared" / "reference" / "wire-formats.md"
TABLE = ("<!-- fields:begin -->", "<!-- fields:end -->")
NOTES = ("<!-- field-notes:begin -->", "<!-- field-notes:end -->")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_declares_every_field_of_the_spec(kind: str) -> None:
    fields = KINDS[kind].fields
    assert isinstance(fields, FieldTable), f"{kind} declares no fields"
    assert fields.missing() == [], f"{kind} has no declaration for {fields.missing()}"
    assert set(fields.rules) <= set(DECLARED), f"{kind} declares fields outside {CHAT_SPEC}: {set(fields.rules) - set(DECLARED)}"
    for name, rule in fields.rules.items():
        assert rule.action in ("translated", "passed", "refused", "ignored"), (kind, name)
        if rule.action == "refused":
            assert rule.note, f"{kind} refuses {name} without saying why (the 400's message)"
        for value in rule.values:
            assert value.action != "refused" or value.note or rule.note, (kind, name, value.label)


def test_the_field_list_is_the_spec_s() -> None:
    """CHAT_FIELDS is every field the reference notes list for openai-openapi 2.3.0 (section 1.2)."""
    assert "2.3.0" in CHAT_SPEC and len(set(CHAT_FIELDS)) == len(CHAT_FIELDS) == 37
    if not WIRE_FORMATS.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {WIRE_FORMATS} is missing")
        pytest.skip(f"{WIRE_FORMATS} not found (clone shared/ beside the repo)")
    text = WIRE_FORMATS.read_text()
    section = text[text.index("### 1.2 Request fields") : text.index("### 1.3")]
    named: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            named.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    assert named == set(CHAT_FIELDS)
    assert "`name`" in text and "prompt_cache_breakpoint" in text  # the two inside messages


def test_a_null_value_is_the_default_and_counts_as_absent() -> None:
    assert assess(OLLAMA, {"model": "m", "messages": [], "logprobs": None, "seed": None, "user": None}) == []


def test_fields_inside_messages_are_found_with_their_path() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "prompt_cache_breakpoint": {"mode": "explicit"}}]},
            {"role": "user", "content": "c", "name": "bob"},
        ],
    }
    found = {f.name: (f.param, f.action) for f in assess(GEMINI, body)}
    assert found == {MESSAGE_NAME: ("messages[2].name", "refused"), CACHE_BREAKPOINT: ("messages[1].content[1].prompt_cache_breakpoint", "ignored")}


def test_native_fields_and_the_mock_knobs_pass_vendor_fields_do_not() -> None:
    found = assess(OLLAMA, {"model": "m", "messages": [], "options": {"num_ctx": 8192}, "keep_alive": "5m", MOCK_KNOBS: {"tokens": 3}, "top_k": 4})
    assert [(f.name, f.action) for f in found] == [("top_k", "refused")]


def test_value_rules_decide_by_value() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    assert [f.name for f in assess(OLLAMA, {"tools": [tool], "tool_choice": "auto", "parallel_tool_calls": True, "n": 1})] == []
    assert [f.name for f in assess(OLLAMA, {"tools": [tool], "tool_choice": "required", "parallel_tool_calls": False, "n": 2})] == ["tool_choice", "parallel_tool_calls", "n"]
    # parallel_tool_calls: false means nothing without tools
    assert assess(GEMINI, {"parallel_tool_calls": False}) == []
    [custom] = assess(GEMINI, {"tools": [tool, {"type": "custom", "custom": {"name": "g"}}]})
    assert custom.keep is not None and custom.keep([tool, {"type": "custom"}]) == [tool]


def _replace(text: str, markers: tuple[str, str], table: str) -> str:
    head, _, rest = text.partition(markers[0])
    _, _, tail = rest.partition(markers[1])
    return f"{head}{markers[0]}\n{table}\n{markers[1]}{tail}"


def _current(text: str, markers: tuple[str, str]) -> str:
    return text.partition(markers[0])[2].partition(markers[1])[0].strip()


def test_the_docs_carry_the_generated_tables() -> None:
    """README.md and docs/compatibility.md: the field x kind table; the compatibility page also
    the notes, both generated from the declarations."""
    table, notes = markdown({name: kind.fields for name, kind in KINDS.items() if kind.fields is not None})
    for doc, parts in ((ROOT / "README.md", ((TABLE, table),)), (ROOT / "docs" / "compatibility.md", ((TABLE, table), (NOTES, notes)))):
        text = doc.read_text()
        for markers, generated in parts:
            assert markers[0] in text and markers[1] in text, f"{doc.name} has no {markers[0]} ... {markers[1]}"
            if os.environ.get("EDGE_UPDATE_DOCS") == "1":
                text = _replace(text, markers, generated)
                doc.write_text(text)
                continue
            assert _current(text, markers) == generated, f"{doc.name} is stale: EDGE_UPDATE_DOCS=1 pytest tests/adapters/test_fields.py"
