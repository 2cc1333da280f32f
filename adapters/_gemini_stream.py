"""Gemini ``streamGenerateContent`` bodies -> normalized chunks (wire-formats.md section 3.4).

Framing is done here rather than by fastpath's SSE decoder because Gemini mixes two framings in
one body: ``data: <json>`` events (``?alt=sse``), and raw, possibly pretty-printed JSON without a
``data:`` prefix, which is how an error that happens after the headers arrives (python-genai's
``_api_client.py`` brace-balances such lines; an SSE parser would drop them as unknown fields).
The same brace scanner reads the non-SSE transport (``?alt=json``: one JSON array of responses).

- Every chunk is a whole GenerateContentResponse holding only new parts; text is incremental.
- ``usageMetadata`` is cumulative: the last one wins.
- A ``functionCall`` normally arrives whole (``args`` an object) and becomes one tool-call chunk
  with the full arguments. Vertex's streamed form (``willContinue`` + ``partialArgs`` and an
  empty ``functionCall`` that closes the call) is assembled and sent when the call closes.
- ``finishReason``: a tool call that ends with STOP is ``tool_calls``; no candidates plus
  ``promptFeedback.blockReason`` is ``content_filter``. Gemini has no end-of-stream event, so the
  finish chunk goes out at the end of the body (an error may still follow a finishReason).
- ``thoughtSignature`` on a functionCall part travels in the tool-call id (see gemini.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from edge.fastpath import jsonio
from edge.fastpath.sse import SSEError

from ._common import MAX_RETRY_AFTER_S, new_call_id, upstream_error
from .types import Chunk, FinishReason, ToolCallDelta, UpstreamErrorInfo, Usage

__all__ = ["SIGNATURE_SEP", "GeminiStreamDecoder", "error_info", "finish_reason_for", "usage_from_gemini"]

# tool-call id = <id> + SIGNATURE_SEP + <thoughtSignature>; the client echoes the id back on the
# next turn, which is how a stateless gateway returns the signature Gemini 3 requires.
SIGNATURE_SEP = "__thought__"

_FILTERED = frozenset(("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"))
# Enum order of google.ai.generativelanguage.v1beta.Candidate.FinishReason, for enum-encoding=int.
_BY_NUMBER = ("FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS")

_STATUS_BY_CODE = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "INTERNAL": 500, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


def finish_reason_for(raw: Any, has_tool_calls: bool) -> FinishReason | None:
    if raw is None:
        return None
    if isinstance(raw, int):
        raw = _BY_NUMBER[raw] if 0 <= raw < len(_BY_NUMBER) else "OTHER"
    if raw == "STOP":
        return "tool_calls" if has_tool_calls else "stop"
    if raw == "MAX_TOKENS":
        return "length"
    if raw in _FILTERED:
        return "content_filter"
    if raw == "FINISH_REASON_UNSPECIFIED":
        return None
    return "unknown"  # OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, ...: no clean OpenAI value


def _n(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def usage_from_gemini(raw: Any) -> Usage | None:
    """usageMetadata -> Usage: thoughts count as completion (reasoning) tokens, as OpenAI counts."""
    if not isinstance(raw, dict) or "promptTokenCount" not in raw:
        return None
    thoughts = _n(raw.get("thoughtsTokenCount"))
    prompt = _n(raw.get("promptTokenCount")) + _n(raw.get("toolUsePromptTokenCount"))
    return Usage(prompt_tokens=prompt, completion_tokens=_n(raw.get("candidatesTokenCount")) + thoughts, cached_tokens=_n(raw.get("cachedContentTokenCount")), reasoning_tokens=thoughts)


def _retry_delay(details: Any) -> float | None:
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            found = re.fullmatch(r"\s*([\d.]+)s\s*", str(item.get("retryDelay", "")))
            if found:
                return min(float(found.group(1)), MAX_RETRY_AFTER_S)
    return None


def error_info(status: int, err: Mapping[str, Any], retry_after: float | None) -> UpstreamErrorInfo:
    """A google.rpc error (``{"error": {code, message, status, details}}``) -> OpenAI vocabulary."""
    code = str(err.get("status") or "") or None
    message = str(err.get("message") or "")
    if status < 400:  # an error inside a 200 stream: its own code says what failed
        own = err.get("code")
        status = own if isinstance(own, int) and own >= 400 else _STATUS_BY_CODE.get(code or "", 502)
    details = err.get("details")
    reasons = [d.get("reason") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    if "API_KEY_INVALID" in reasons:  # Gemini answers a bad key with 400 INVALID_ARGUMENT
        status = 401
    if retry_after is None:
        retry_after = _retry_delay(details)
    return upstream_error(status, message, code=code, retry_after=retry_after)


# One line, event or bare object may hold at most this much, as in edge.fastpath.sse: an
# upstream that sends a 100 MB line gets SSEError (502), not our memory.
MAX_EVENT_BYTES = 16 * 1024 * 1024


def _check_size(size: int) -> None:
    if size > MAX_EVENT_BYTES:
        raise SSEError(f"Gemini stream line or object exceeds {MAX_EVENT_BYTES} bytes")


class _Framer:
    """Bytes -> JSON payloads from ``data:`` lines and from bare (brace-balanced) JSON."""

    def __init__(self) -> None:
        # Pieces of the unterminated line, joined only when its end arrives (never re-copied
        # per feed, which made a long line quadratic).
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._data_bytes = 0
        self._data: list[bytes] = []
        self._obj = bytearray()
        self._depth = 0
        self._in_str = False
        self._esc = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        if b"\n" not in data:
            self._held.append(data)
            self._held_bytes += len(data)
            _check_size(self._held_bytes)
            return out
        lines = (b"".join(self._held) + data).split(b"\n")
        last = lines.pop()
        self._held, self._held_bytes = [last], len(last)
        _check_size(self._held_bytes)
        for line in lines:
            self._one(line[:-1] if line.endswith(b"\r") else line, out)
        return out

    def flush(self) -> list[bytes]:
        out: list[bytes] = []
        line = b"".join(self._held)
        self._held, self._held_bytes = [], 0
        if line:
            self._one(line.rstrip(b"\r"), out)
        if self._data:
            out.append(b"\n".join(self._data))
            self._data, self._data_bytes = [], 0
        return out

    def _one(self, line: bytes, out: list[bytes]) -> None:
        if self._depth == 0 and not self._obj:
            if line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
                self._data_bytes += len(line)
                _check_size(self._data_bytes)
                return
            if not line.strip():
                if self._data:
                    out.append(b"\n".join(self._data))
                    self._data, self._data_bytes = [], 0
                return
            if line.startswith((b":", b"event:", b"id:", b"retry:")):
                return
        self._scan(line + b"\n", out)

    def _scan(self, line: bytes, out: list[bytes]) -> None:
        for i, c in enumerate(line):
            if self._depth == 0:
                if c == 0x7B:  # "{" opens an object; "[", "," and "]" of an array are skipped
                    self._depth = 1
                    self._obj = bytearray(b"{")
                continue
            self._obj.append(c)
            if self._in_str:
                if self._esc:
                    self._esc = False
                elif c == 0x5C:
                    self._esc = True
                elif c == 0x22:
                    self._in_str = False
            elif c == 0x22:
                self._in_str = True
            elif c == 0x7B:
                self._depth += 1
            elif c == 0x7D:
                self._depth -= 1
                if self._depth == 0:
                    out.append(bytes(self._obj))
                    self._obj = bytearray()
        _check_size(len(self._obj))


class GeminiStreamDecoder:
    def __init__(self) -> None:
        self._framer = _Framer()
        self._usage: Usage | None = None
        self._finish: Any = None
        self._blocked = False
        self._tools = 0
        self._open: tuple[int, dict[str, Any]] | None = None  # a call streamed with partialArgs
        self.done = False
        self.failed = False

    def feed(self, data: bytes) -> list[Chunk]:
        if self.done or self.failed:
            return []
        return self._payloads(self._framer.feed(data))

    def flush(self) -> list[Chunk]:
        if self.done or self.failed:
            return []
        out = self._payloads(self._framer.flush())
        if self.failed:
            return out
        if self._open is not None:
            self._close(out)
        finish = "content_filter" if self._blocked and self._finish is None else finish_reason_for(self._finish, self._tools > 0)
        if finish is not None:
            self.done = True
            out.append(Chunk(finish_reason=finish, usage=self._usage))
        elif self._usage is not None:
            out.append(Chunk(usage=self._usage))  # a cut stream: still count what was used
        return out

    def _payloads(self, payloads: list[bytes]) -> list[Chunk]:
        out: list[Chunk] = []
        for payload in payloads:
            if self.failed:
                break
            try:
                doc = jsonio.loads(payload)
            except jsonio.JSONDecodeError:
                continue  # a keep-alive or a fragment we cannot read; nothing to forward
            for item in doc if isinstance(doc, list) else [doc]:
                if isinstance(item, dict):
                    self._response(item, out)
        return out

    def _response(self, doc: dict[str, Any], out: list[Chunk]) -> None:
        err = doc.get("error")
        if isinstance(err, dict):
            out.append(Chunk(error=error_info(0, err, None)))
            self.failed = True
            return
        usage = usage_from_gemini(doc.get("usageMetadata"))
        if usage is not None:
            self._usage = usage
        feedback = doc.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self._blocked = True
        candidates = doc.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            return
        candidate = candidates[0]
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                self._part(part, out)
        if candidate.get("finishReason") is not None:
            self._finish = candidate["finishReason"]

    def _part(self, part: dict[str, Any], out: list[Chunk]) -> None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            self._call(call, part.get("thoughtSignature"), out)
            return
        text = part.get("text")
        if isinstance(text, str) and text:
            out.append(Chunk(reasoning=text) if part.get("thought") else Chunk(content=text))

    def _call(self, call: dict[str, Any], signature: Any, out: list[Chunk]) -> None:
        name = call.get("name")
        partial = call.get("partialArgs")
        if name:
            if self._open is not None:
                self._close(out)
            index = self._tools
            self._tools += 1
            call_id = tool_call_id(call.get("id"), signature)
            if call.get("willContinue") or partial:
                out.append(Chunk(tool_calls=[ToolCallDelta(index, call_id, str(name), "")]))
                self._open = (index, dict(call.get("args") or {}))
                self._partial(partial)
            else:
                args = call.get("args")
                out.append(Chunk(tool_calls=[ToolCallDelta(index, call_id, str(name), jsonio.dumps(args if isinstance(args, dict) else {}).decode())]))
            return
        if self._open is None:
            return
        self._partial(partial)
        if not call.get("willContinue"):
            self._close(out)

    def _partial(self, partial: Any) -> None:
        assert self._open is not None or not partial
        for piece in partial if isinstance(partial, list) else ():
            if isinstance(piece, dict) and self._open is not None:
                _set_path(self._open[1], str(piece.get("jsonPath") or "$"), piece)

    def _close(self, out: list[Chunk]) -> None:
        assert self._open is not None
        index, args = self._open
        self._open = None
        out.append(Chunk(tool_calls=[ToolCallDelta(index, arguments=jsonio.dumps(args).decode())]))


def tool_call_id(upstream_id: Any, signature: Any) -> str:
    base = str(upstream_id) if upstream_id else new_call_id()
    return base + SIGNATURE_SEP + signature if isinstance(signature, str) and signature else base


_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _set_path(root: dict[str, Any], path: str, piece: Mapping[str, Any]) -> None:
    """Apply one ``partialArgs`` entry (``$.a.b[0]`` paths; strings arrive in pieces)."""
    keys: list[Any] = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PATH_TOKEN.finditer(path)]
    if not keys:
        return
    node: Any = root
    for key, nxt in zip(keys, keys[1:]):
        child: list[Any] | dict[str, Any] = [] if isinstance(nxt, int) else {}
        if isinstance(node, list):
            while len(node) <= key:
                node.append(None)
            node[key] = node[key] if node[key] is not None else child
            node = node[key]
        else:
            node = node.setdefault(key, child)
    last = keys[-1]
    if "stringValue" in piece:
        value: Any = str(piece["stringValue"])
        current = node[last] if isinstance(node, list) and last < len(node) else (node.get(last) if isinstance(node, dict) else None)
        if isinstance(current, str):
            value = current + value
    elif "numberValue" in piece:
        value = piece["numberValue"]
    elif "boolValue" in piece:
        value = piece["boolValue"]
    else:
        value = None
    if isinstance(node, list):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    else:
        node[last] = value
