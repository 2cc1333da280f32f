"""The OpenAI Responses API on the wire: response objects, output items and the SSE event stream.

Pure (no I/O), shared by the gateway's bridge (edge/responses: a chat provider's normalized
chunks become a Responses stream) and the mock provider's Responses dialect (adapters/mock).
Shapes follow the OpenAI API reference for ``POST /v1/responses`` (``Response``,
``ResponseOutputItem``, ``ResponseStreamEvent``) and the recorded streams in
shared/fixtures/responses/ (SOURCES.md):

- every event is ``event: <type>`` + ``data: <json>`` and carries a ``sequence_number`` that
  grows by one from 0 (``response.created``) to the terminal event;
- the order is ``response.created``, ``response.in_progress``, then per output item
  ``output_item.added``, its parts (``content_part.added`` / ``reasoning_summary_part.added``),
  the deltas (``output_text.delta``, ``refusal.delta``, ``reasoning_summary_text.delta``,
  ``function_call_arguments.delta``), the matching ``.done`` events and ``output_item.done``;
  then ``response.completed`` (or ``response.incomplete`` for a length or content-filter stop)
  carrying the whole response;
- a failure after the stream began is one ``error`` event then ``response.failed``;
- output items: ``message`` (``msg_`` id) with ``output_text`` / ``refusal`` parts,
  ``function_call`` (``fc_`` id, the provider's tool-call id as ``call_id``), ``reasoning``
  (``rs_`` id) with its ``summary`` and the provider's signature as ``encrypted_content``;
- usage always carries ``input_tokens_details.cached_tokens`` and
  ``output_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from edge.fastpath import jsonio

from .types import Chunk, FinishReason, ToolCallDelta, Usage

__all__ = [
    "ECHOED",
    "INCOMPLETE",
    "ResponsesWriter",
    "base_response",
    "error_event",
    "new_id",
    "sse_event",
    "usage_from_responses",
    "usage_to_responses",
]

# Request fields a response object repeats (with these defaults when the request left them out).
ECHOED: Mapping[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "service_tier": "default",
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
    "safety_identifier": None,
    "prompt_cache_key": None,
}

# Finish reasons that make a response "incomplete", and the reason it then gives.
INCOMPLETE: Mapping[str, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's shape (``resp_``, ``msg_``, ``fc_``, ``rs_`` + hex): as OpenAI's, it
    opens with the time in seconds (8 hex digits), then 16 random bytes. Ids made close in time
    sort close together, so the response store's index grows at its end, not at random pages."""
    return f"{prefix}{int(time.time()):08x}{os.urandom(16).hex()}"


def base_response(body: Mapping[str, Any], response_id: str, model: str, created_at: int | None = None) -> dict[str, Any]:
    """The response object before any output: status in_progress, the request's echoed fields."""
    doc = dict(_BASE)
    doc["id"] = response_id
    doc["created_at"] = int(time.time()) if created_at is None else created_at
    doc["model"] = model
    doc["output"] = []
    for name in ECHOED.keys() & body.keys():  # the request's few fields; every key is in place already
        value = body[name]
        if value is not None:
            doc[name] = value
    return doc


# A response's fields in their order, copied whole for each response (one C-level copy).
_BASE: Mapping[str, Any] = {
    "id": "",
    "object": "response",
    "created_at": 0,
    "status": "in_progress",
    "background": False,
    "error": None,
    "incomplete_details": None,
    "model": "",
    "output": [],
    "usage": None,
    **ECHOED,
}


def usage_to_responses(usage: Usage) -> dict[str, Any]:
    """Our Usage as the Responses ``usage`` object (cache reads and reasoning always present)."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def usage_from_responses(raw: Any) -> Usage | None:
    """A Responses ``usage`` object -> Usage; cache writes where a server reports them."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details")
    out_details = raw.get("output_tokens_details")
    details = details if isinstance(details, dict) else {}
    out_details = out_details if isinstance(out_details, dict) else {}
    return Usage(
        prompt_tokens=_int(raw.get("input_tokens")),
        completion_tokens=_int(raw.get("output_tokens")),
        cached_tokens=_int(details.get("cached_tokens")),
        reasoning_tokens=_int(out_details.get("reasoning_tokens")),
        cache_write_tokens=_int(details.get("cache_write_tokens")),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def sse_event(doc: dict[str, Any]) -> bytes:
    return b"event: " + str(doc["type"]).encode() + b"\ndata: " + jsonio.dumps(doc) + b"\n\n"


def error_event(code: str | None, message: str, param: str | None = None, kind: str = "api_error") -> dict[str, Any]:
    """An ``error`` stream event: the fields at the top (the API reference's shape) and in
    ``error`` (what OpenAI sends, shared/fixtures/openai/responses-stream-error-insufficient-quota.jsonl,
    and what the SDKs raise on)."""
    return {"type": "error", "code": code, "message": message, "param": param, "error": {"type": kind, "code": code, "message": message, "param": param}}


class _Item:
    """One output item being built: its JSON object and what its done events need."""

    __slots__ = ("closed", "doc", "head", "index", "kind", "part", "text")

    def __init__(self, kind: str, doc: dict[str, Any], index: int) -> None:
        self.kind = kind  # message | refusal | reasoning | function_call
        self.doc = doc
        self.index = index
        self.text: list[str] = []
        self.part = 0
        self.closed = False
        self.head: dict[bytes, bytes] = {}  # the fixed start of each delta event of this item


class ResponsesWriter:
    """Normalized chunks -> Responses output items and, with ``emit``, their SSE events.

    One writer per response. ``opening()`` gives created + in_progress; ``feed`` the events of
    each batch of chunks; ``close_items`` the done events of what is still open; ``final`` the
    whole response; ``terminal`` its completed/incomplete event; ``failure`` error + failed.
    Without ``emit`` (a plain answer) only the items are built.
    """

    def __init__(self, base: dict[str, Any], emit: bool = True) -> None:
        self.base = base
        self.emit = emit
        # Item ids: the response id's random part and a count (one random draw per response).
        self._stem = str(base.get("id") or "").partition("_")[2] or os.urandom(8).hex()
        self.seq = 0
        self.items: list[_Item] = []
        self._text: _Item | None = None  # the open message (text or refusal) or reasoning item
        self._calls: dict[int, _Item] = {}
        self.finish: FinishReason | None = None

    # -- events -------------------------------------------------------------------------------

    def _event(self, out: list[bytes], doc: dict[str, Any]) -> None:
        if not self.emit:
            return
        doc["sequence_number"] = self.seq
        self.seq += 1
        out.append(sse_event(doc))

    def _delta(self, out: list[bytes], item: _Item, kind: bytes, extra: bytes, text: str) -> None:
        """A delta event, written from bytes (the hot path: one per upstream chunk); the same
        JSON ``_event`` would give, fields in another order."""
        if not self.emit:
            return
        head = item.head.get(kind)
        if head is None:
            head = item.head[kind] = (
                b"event: " + kind + b'\ndata: {"type":"' + kind + b'","item_id":' + jsonio.dumps(item.doc["id"])
                + b',"output_index":' + str(item.index).encode() + b"," + extra + b'"delta":'
            )
        out.append(head + jsonio.dumps(text) + b',"sequence_number":' + str(self.seq).encode() + b"}\n\n")
        self.seq += 1

    def _snapshot(self, status: str | None = None) -> dict[str, Any]:
        doc = dict(self.base)
        if status is not None:
            doc["status"] = status
        return doc

    def opening(self) -> bytes:
        if not self.emit:
            return b""
        response = jsonio.dumps(self.base)  # the same object in both events: encoded once
        out = []
        for kind in (b"response.created", b"response.in_progress"):
            out.append(b"event: " + kind + b'\ndata: {"type":"' + kind + b'","response":' + response + b',"sequence_number":' + str(self.seq).encode() + b"}\n\n")
            self.seq += 1
        return b"".join(out)

    # -- items --------------------------------------------------------------------------------

    def _open(self, out: list[bytes], kind: str) -> _Item:
        index = len(self.items)
        if kind == "reasoning":
            doc: dict[str, Any] = {"id": self._item_id("rs_", index), "type": "reasoning", "summary": []}
        else:
            doc = {"id": self._item_id("msg_", index), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        item = _Item(kind, doc, index)
        self.items.append(item)
        if self.emit:
            self._event(out, {"type": "response.output_item.added", "output_index": index, "item": dict(doc)})
        return item

    def _start_part(self, out: list[bytes], item: _Item, kind: str) -> None:
        if not self.emit:
            return
        if kind == "reasoning":
            self._event(out, {"type": "response.reasoning_summary_part.added", "item_id": item.doc["id"], "output_index": item.index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        else:
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []} if kind == "message" else {"type": "refusal", "refusal": ""}
            self._event(out, {"type": "response.content_part.added", "item_id": item.doc["id"], "output_index": item.index, "content_index": 0, "part": part})

    def _item_id(self, prefix: str, index: int) -> str:
        return f"{prefix}{self._stem}{index:04x}"

    def _text_item(self, out: list[bytes], kind: str) -> _Item:
        current = self._text
        # A signature ends its reasoning block: reasoning after it is the next item.
        if current is not None and current.kind == kind and "encrypted_content" not in current.doc:
            return current
        if current is not None:
            self._close(out, current)
        item = self._open(out, "reasoning" if kind == "reasoning" else "message")
        item.kind = kind
        self._start_part(out, item, kind)
        self._text = item
        return item

    def feed(self, chunks: list[Chunk]) -> bytes:
        out: list[bytes] = []
        for chunk in chunks:
            if chunk.reasoning:
                item = self._text_item(out, "reasoning")
                item.text.append(chunk.reasoning)
                self._delta(out, item, b"response.reasoning_summary_text.delta", b'"summary_index":0,', chunk.reasoning)
            if chunk.reasoning_signature:
                # The signature belongs to the reasoning it follows (Anthropic's signature_delta,
                # a Responses item's encrypted_content); alone, it is a reasoning item of its own.
                item = self._text_item(out, "reasoning")
                item.doc["encrypted_content"] = item.doc.get("encrypted_content", "") + chunk.reasoning_signature
            if chunk.content:
                item = self._text_item(out, "message")
                item.text.append(chunk.content)
                self._delta(out, item, b"response.output_text.delta", b'"content_index":0,"logprobs":[],', chunk.content)
            if chunk.refusal:
                item = self._text_item(out, "refusal")
                item.text.append(chunk.refusal)
                self._event(out, {"type": "response.refusal.delta", "item_id": item.doc["id"], "output_index": item.index, "content_index": 0, "delta": chunk.refusal})
            if chunk.tool_calls:
                for call in chunk.tool_calls:
                    self._call(out, call)
            if chunk.finish_reason is not None and self.finish is None:
                self.finish = chunk.finish_reason
        return b"".join(out)

    def _call(self, out: list[bytes], call: ToolCallDelta) -> None:
        item = self._calls.get(call.index)
        if item is None:
            if self._text is not None:
                self._close(out, self._text)
                self._text = None
            item = self._open_call(out, call)
        elif call.name and not item.doc["name"]:
            item.doc["name"] = call.name
        if call.arguments:
            item.text.append(call.arguments)
            self._delta(out, item, b"response.function_call_arguments.delta", b"", call.arguments)

    def _open_call(self, out: list[bytes], call: ToolCallDelta) -> _Item:
        index = len(self.items)
        doc = {"id": self._item_id("fc_", index), "type": "function_call", "status": "in_progress", "arguments": "", "call_id": call.id or self._item_id("call_", index), "name": call.name or ""}
        item = _Item("function_call", doc, index)
        self.items.append(item)
        self._calls[call.index] = item
        if self.emit:
            self._event(out, {"type": "response.output_item.added", "output_index": index, "item": dict(doc)})
        return item

    def _close(self, out: list[bytes], item: _Item) -> None:
        if item.closed:
            return
        item.closed = True
        text = "".join(item.text)
        emit = self.emit  # a plain answer needs the items only, not the events
        ids = {"item_id": item.doc["id"], "output_index": item.index} if emit else {}
        if item.kind == "reasoning":
            summary = {"type": "summary_text", "text": text}
            if emit:
                self._event(out, {"type": "response.reasoning_summary_text.done", **ids, "summary_index": 0, "text": text})
                self._event(out, {"type": "response.reasoning_summary_part.done", **ids, "summary_index": 0, "part": summary})
            item.doc["summary"] = [summary]
        elif item.kind == "function_call":
            item.doc["arguments"] = text
            item.doc["status"] = "completed"
            if emit:
                self._event(out, {"type": "response.function_call_arguments.done", **ids, "name": item.doc["name"], "arguments": text})
        else:
            if item.kind == "message":
                part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                if emit:
                    self._event(out, {"type": "response.output_text.done", **ids, "content_index": 0, "text": text, "logprobs": []})
            else:
                part = {"type": "refusal", "refusal": text}
                if emit:
                    self._event(out, {"type": "response.refusal.done", **ids, "content_index": 0, "refusal": text})
            if emit:
                self._event(out, {"type": "response.content_part.done", **ids, "content_index": 0, "part": part})
            item.doc["content"] = [part]
            item.doc["status"] = "completed"
        if emit:
            self._event(out, {"type": "response.output_item.done", "output_index": item.index, "item": item.doc})

    def close_items(self) -> bytes:
        out: list[bytes] = []
        for item in self.items:
            self._close(out, item)
        self._text = None
        return b"".join(out)

    # -- the ending ---------------------------------------------------------------------------

    def final(self, usage: Usage | None) -> dict[str, Any]:
        """The whole response (items closed first): completed, or incomplete with its reason."""
        self.close_items()
        reason = INCOMPLETE.get(self.finish or "")
        doc = self._snapshot("incomplete" if reason else "completed")
        doc["output"] = [item.doc for item in self.items]
        if reason:
            doc["incomplete_details"] = {"reason": reason}
        doc["usage"] = usage_to_responses(usage) if usage is not None else None
        return doc

    def terminal(self, doc: dict[str, Any], encoded: bytes | None = None) -> bytes:
        """The completed / incomplete event of ``doc``; ``encoded``: ``doc`` as JSON already
        (scrubbed, say): the event carries those bytes."""
        if not self.emit:
            return b""
        kind = b"response.incomplete" if doc.get("status") == "incomplete" else b"response.completed"
        response = jsonio.dumps(doc) if encoded is None else encoded
        out = b"event: " + kind + b'\ndata: {"type":"' + kind + b'","response":' + response + b',"sequence_number":' + str(self.seq).encode() + b"}\n\n"
        self.seq += 1
        return out

    def failure(self, code: str | None, message: str, param: str | None = None) -> bytes:
        """The ``error`` event and ``response.failed`` for a stream that broke after it began."""
        out: list[bytes] = []
        self._event(out, error_event(code, message, param))
        doc = self._snapshot("failed")
        doc["output"] = [item.doc for item in self.items if item.closed]
        doc["error"] = {"code": code or "server_error", "message": message}
        self._event(out, {"type": "response.failed", "response": doc})
        return b"".join(out)
