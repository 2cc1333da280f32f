"""The Messages bridge's rules: the generated table in the docs, tool ids, what it refuses."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from edge.messages.bridge import RULES, assess_messages, client_tool_id, to_chat, upstream_tool_id
from edge.messages.fields import markdown_messages, native_kinds

ROOT = Path(__file__).resolve().parents[3]
MARKERS = ("<!-- messages-fields:begin -->", "<!-- messages-fields:end -->")


def test_the_docs_carry_the_generated_messages_table() -> None:
    table = markdown_messages()
    for doc in (ROOT / "README.md", ROOT / "docs" / "compatibility.md"):
        text = doc.read_text()
        head, found, rest = text.partition(MARKERS[0])
        current, found_end, tail = rest.partition(MARKERS[1])
        assert found and found_end, f"{doc.name} has no {MARKERS[0]} ... {MARKERS[1]}"
        if os.environ.get("EDGE_UPDATE_DOCS") == "1":
            doc.write_text(f"{head}{MARKERS[0]}\n{table}\n{MARKERS[1]}{tail}")
            continue
        assert current.strip() == table, f"{doc.name} is stale: EDGE_UPDATE_DOCS=1 pytest tests/edge/messages"


def test_native_kinds_are_anthropic_and_the_mock() -> None:
    assert native_kinds() == {"anthropic", "mock"}


@pytest.mark.parametrize("upstream", ["call_abc123", "call_8f3", "fc-1__thought__c2ln+/=", "b64_looks_encoded", "toolu_01ABC", "ünïcode id"])
def test_tool_ids_are_toolu_ids_and_map_back(upstream: str) -> None:
    client = client_tool_id(upstream)
    assert re.fullmatch(r"toolu_[a-zA-Z0-9_-]+", client), client
    assert upstream_tool_id(client) == upstream


def test_anthropic_ids_reach_a_bridged_route_paired() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "tool_use", "id": "toolu_01A", "name": "w", "input": {"c": "Lyon"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": [{"type": "text", "text": "19"}], "is_error": True}, {"type": "text", "text": "so?"}]},
        ],
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Really."}],
        "thinking": {"type": "enabled", "budget_tokens": 20000, "display": "omitted"},
        "tool_choice": {"type": "tool", "name": "w", "disable_parallel_tool_use": True},
        "tools": [{"name": "w", "input_schema": {"type": "object"}, "strict": True}],
        "stop_sequences": ["###"],
    }
    chat, show = to_chat(body)
    assert not show and chat["reasoning_effort"] == "high" and chat["stop"] == ["###"]
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief.\nReally."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "01A", "type": "function", "function": {"name": "w", "arguments": '{"c":"Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "01A", "content": "Error: 19"},
        {"role": "user", "content": [{"type": "text", "text": "so?"}]},
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "w"}} and chat["parallel_tool_calls"] is False
    assert chat["tools"] == [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}, "strict": True}}]
    assert assess_messages(body) == []


def test_what_the_bridge_refuses_and_ignores_is_declared() -> None:
    body = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}, "citations": {"enabled": True}}, {"type": "image", "source": {"type": "file", "file_id": "f1"}}]}],
        "tools": [{"type": "bash_20250124", "name": "bash"}],
        "container": "c1",
        "context_management": {"edits": []},
        "speed": "fast",
    }
    found = {f.name: f for f in assess_messages(body)}
    assert set(found) == {"content[].citations", "content: image (file source)", "tools[]: server tools", "container", "context_management", "speed"}  # the hint is translated
    assert found["tools[]: server tools"].param == "tools[0]" and found["content: image (file source)"].param == "messages[0].content[1]"
    assert [f.rule.action for f in assess_messages(body)][-1:] == ["ignored"]  # refusals first
    for name in found:
        assert name in RULES or name == "speed"


def test_cache_breakpoints_become_chat_hints_where_their_blocks_go() -> None:
    """Each breakpoint ends the same prefix in the chat body; the joined text is unchanged."""
    five, hour = {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}
    body = {
        "model": "m",
        "max_tokens": 8,
        "system": [{"type": "text", "text": "A", "cache_control": five}, {"type": "text", "text": "B"}, {"type": "text", "text": "C", "cache_control": hour}, {"type": "text", "text": "D"}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": hour}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "7m"}}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}, "cache_control": five}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42", "cache_control": five}]},
            {"role": "user", "content": "and now?"},
        ],
        "cache_control": five,
    }
    chat, _ = to_chat(body)
    system, user, assistant, tool, last = chat["messages"]
    assert system["content"] == [{"type": "text", "text": "A", "cache_control": five}, {"type": "text", "text": "\nB\nC", "cache_control": hour}, {"type": "text", "text": "\nD"}]
    assert "".join(p["text"] for p in system["content"]) == "A\nB\nC\nD"  # what a route without hints reads
    assert user["content"][0]["cache_control"] == five  # a ttl Anthropic does not define is not carried
    assert assistant["content"] == "x" and tool["content"] == [{"type": "text", "text": "42", "cache_control": five}]
    assert last["content"] == [{"type": "text", "text": "and now?", "cache_control": five}]  # the top-level hint
    assert chat["tools"][0]["cache_control"] == hour
    found = assess_messages(body)
    assert [(f.name, f.param, f.rule.action) for f in found] == [("content[].cache_control on tool_use, thinking", "messages[1].content[1].cache_control", "ignored")]
    plain, _ = to_chat({"model": "m", "max_tokens": 8, "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}], "messages": [{"role": "user", "content": "q"}]})
    assert plain["messages"][0] == {"role": "system", "content": "A\nB"}  # no hints: the string as before
