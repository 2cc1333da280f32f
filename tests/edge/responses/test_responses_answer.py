"""The bridge's plain answer: the direct build of the usual answer is the writer's, field for field.

``response_from_chat`` builds a text-only answer without the ResponsesWriter (it runs for every
bridged plain request); every other answer goes through the writer. Each case here is built both
ways and must come out identical, key order included (clients see the JSON).
"""

from __future__ import annotations

from typing import Any

import pytest

from edge.adapters.responses_answer import chunks_from_chat, response_from_chat
from edge.adapters.responses_wire import ResponsesWriter, base_response
from edge.adapters.types import Usage
from edge.fastpath import jsonio

BODY = {"model": "m", "instructions": "be brief", "temperature": 0.2, "metadata": {"team": "a"}, "max_output_tokens": 64}


def _chat(message: dict[str, Any] | None, finish: Any = "stop") -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if message is not None:
        choice["message"] = {"role": "assistant", **message}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "up", "choices": [choice]}


CASES = {
    "text": _chat({"content": "Hello there."}),
    "text cut by length": _chat({"content": "Hello th"}, "length"),
    "text filtered": _chat({"content": "Hel"}, "content_filter"),
    "unknown finish reason": _chat({"content": "Hi"}, "eos"),
    "unhashable finish reason": _chat({"content": "Hi"}, {"odd": 1}),
    "no finish reason": _chat({"content": "Hi"}, None),
    "empty content": _chat({"content": ""}),
    "null content": _chat({"content": None}),
    "content not a string": _chat({"content": [{"type": "text", "text": "Hi"}]}),
    "tool call": _chat({"content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "tool_calls"),
    "text and tool call": _chat({"content": "Let me look.", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "tool_calls"),
    "reasoning": _chat({"content": "42", "reasoning_content": "think", "reasoning_signature": "sig"}),
    "reasoning field": _chat({"content": "42", "reasoning": "think"}),
    "refusal": _chat({"content": None, "refusal": "I can't."}),
    "no message": _chat(None),
    "no choices": {"id": "x", "choices": []},
}


@pytest.mark.parametrize("usage", [Usage(prompt_tokens=12, completion_tokens=5, cached_tokens=4, reasoning_tokens=2), None], ids=["usage", "no usage"])
@pytest.mark.parametrize("name", list(CASES))
def test_direct_build_is_the_writers(name: str, usage: Usage | None) -> None:
    doc = CASES[name]
    writer = ResponsesWriter(base_response(BODY, "resp_0123abcd", "public", 1700000000), emit=False)
    writer.feed(chunks_from_chat(doc))
    expected = writer.final(usage)
    got = response_from_chat(base_response(BODY, "resp_0123abcd", "public", 1700000000), doc, usage)
    assert jsonio.dumps(got) == jsonio.dumps(expected)


def test_base_response_echoes_the_request_in_the_documented_order() -> None:
    doc = base_response({**BODY, "user": None, "store": False, "unknown": 1}, "resp_1", "public", 5)
    keys = list(doc)
    assert keys[:10] == ["id", "object", "created_at", "status", "background", "error", "incomplete_details", "model", "output", "usage"]
    assert (doc["instructions"], doc["temperature"], doc["max_output_tokens"], doc["store"], doc["user"]) == ("be brief", 0.2, 64, False, None)
    assert doc["metadata"] == {"team": "a"} and "unknown" not in doc
    other = base_response({}, "resp_2", "public", 5)
    assert other["output"] == [] and other["output"] is not doc["output"]  # never one list shared by two responses
    assert other["instructions"] is None and other["store"] is True
