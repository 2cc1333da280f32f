"""Request fields the adapters now translate (issue 15), without a network: Anthropic's end-user
id and prompt-cache breakpoints, temperature with thinking off, Ollama's tools under each
tool_choice. What is refused or ignored is the gateway's (tests/adapters/test_fields_gateway.py)."""

from __future__ import annotations

from typing import Any

from edge.adapters.anthropic import AnthropicAdapter
from edge.adapters.ollama import OllamaAdapter
from edge.fastpath import jsonio

ANTHROPIC = AnthropicAdapter("https://api.anthropic.com", "sk-ant-secret-0123456789")
OLLAMA = OllamaAdapter("http://localhost:11434")
TOOLS = [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}, {"type": "function", "function": {"name": "b"}}]
MARK = {"mode": "explicit"}


def _native(adapter: Any, body: dict[str, Any]) -> dict[str, Any]:
    out = jsonio.loads(adapter.chat_request({"model": "m", **body}, "m", False).body)
    assert isinstance(out, dict)
    return out


def test_anthropic_end_user_id_from_user_or_safety_identifier() -> None:
    user = [{"role": "user", "content": "x"}]
    assert _native(ANTHROPIC, {"messages": user, "user": "u1"})["metadata"] == {"user_id": "u1"}
    assert _native(ANTHROPIC, {"messages": user, "safety_identifier": "s1"})["metadata"] == {"user_id": "s1"}
    assert _native(ANTHROPIC, {"messages": user, "user": "u1", "safety_identifier": "s1"})["metadata"] == {"user_id": "s1"}


def test_anthropic_cache_breakpoints_become_cache_control_where_they_are() -> None:
    out = _native(ANTHROPIC, {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "rules", "prompt_cache_breakpoint": MARK}, {"type": "text", "text": "today"}]},
        {"role": "user", "content": [{"type": "text", "text": "shared prefix", "prompt_cache_breakpoint": MARK}, {"type": "text", "text": "question"}]},
    ]})
    assert out["system"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "today"}]
    assert out["messages"][0]["content"] == [{"type": "text", "text": "shared prefix", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "question"}]
    # Without a mark the system stays one block, as before.
    assert _native(ANTHROPIC, {"messages": [{"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, {"role": "user", "content": "x"}]})["system"] == [{"type": "text", "text": "ab"}]


def test_anthropic_temperature_stays_when_thinking_is_off() -> None:
    out = _native(ANTHROPIC, {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "none", "temperature": 0.3, "top_p": 0.8})
    assert out["thinking"] == {"type": "disabled"} and out["temperature"] == 0.3 and out["top_p"] == 0.8


def test_ollama_sends_every_tool_unless_tool_choice_is_none() -> None:
    user = [{"role": "user", "content": "x"}]
    assert [t["function"]["name"] for t in _native(OLLAMA, {"messages": user, "tools": TOOLS, "tool_choice": "auto"})["tools"]] == ["a", "b"]
    assert "tools" not in _native(OLLAMA, {"messages": user, "tools": TOOLS, "tool_choice": "none"})
