"""A whole chat completion as a whole Responses API response: the bridge's plain answer.

A provider that speaks only chat answers a plain (non-streamed) ``POST /v1/responses`` with a
chat completion; the client gets the ``Response`` object the OpenAI API reference describes
(output items as adapters/responses_wire.py builds them). ``chunks_from_chat`` reads a
completion as the normalized chunks a stream of it would give, so one writer
(``ResponsesWriter``) makes every shape of answer; ``response_from_chat`` builds the usual one
(one text message, no reasoning, refusal or tool call) directly, as that writer would, since it
runs for every bridged plain request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .responses_wire import INCOMPLETE, ResponsesWriter, new_id, usage_to_responses
from .types import Chunk, FinishReason, ToolCallDelta, Usage

__all__ = ["chunks_from_chat", "response_from_chat"]

_FINISH = frozenset(("stop", "length", "tool_calls", "content_filter", "function_call"))


def response_from_chat(base: dict[str, Any], doc: Mapping[str, Any], usage: Usage | None) -> dict[str, Any]:
    """The whole response for ``doc`` (choice 0), from ``base`` (adapters.responses_wire.base_response):
    what ``ResponsesWriter(base, emit=False)`` fed ``chunks_from_chat(doc)`` gives from
    ``final(usage)``."""
    choices = doc.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    message = choice.get("message") if choice is not None else None
    stem = str(base.get("id") or "").partition("_")[2]
    if (
        not isinstance(message, dict) or not stem
        or type(text := message.get("content")) is not str or not text
        or message.get("reasoning_content") or message.get("reasoning") or message.get("refusal") or message.get("tool_calls")
    ):
        writer = ResponsesWriter(base, emit=False)
        writer.feed(chunks_from_chat(doc))
        return writer.final(usage)
    assert choice is not None
    reason = choice.get("finish_reason")
    incomplete = INCOMPLETE.get(reason) if isinstance(reason, str) else None
    out = dict(base)
    out["status"] = "incomplete" if incomplete else "completed"
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    out["output"] = [{"id": f"msg_{stem}0000", "type": "message", "status": "completed", "role": "assistant", "content": [part]}]
    if incomplete:
        out["incomplete_details"] = {"reason": incomplete}
    out["usage"] = usage_to_responses(usage) if usage is not None else None
    return out


def chunks_from_chat(doc: Mapping[str, Any]) -> list[Chunk]:
    """A whole chat completion (choice 0) as the normalized chunks a stream of it would give."""
    choices = doc.get("choices")
    choice: dict[str, Any] = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    found = choice.get("message")
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    out: list[Chunk] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        signature = message.get("reasoning_signature")
        out.append(Chunk(reasoning=reasoning, reasoning_signature=signature if isinstance(signature, str) else None))
    if isinstance(message.get("content"), str) and message["content"]:
        out.append(Chunk(content=message["content"]))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        out.append(Chunk(refusal=message["refusal"]))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        deltas = []
        for index, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                deltas.append(ToolCallDelta(index=index, id=str(call.get("id") or new_id("call_")), name=str(fn.get("name") or ""), arguments=str(fn.get("arguments") or "")))
        if deltas:
            out.append(Chunk(tool_calls=deltas))
    reason = choice.get("finish_reason")
    finish: FinishReason = reason if isinstance(reason, str) and reason in _FINISH else "stop"  # type: ignore[assignment]
    out.append(Chunk(finish_reason=finish))
    return out
