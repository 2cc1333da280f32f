"""Anthropic Messages SSE in, the same bytes out: the pass-through transcoder (section 2.4).

For routes that speak the Messages API (``Adapter.native_messages``): whole events are written
as they arrive, byte for byte, except ``message_start``, whose ``message.model`` becomes the
public name. Only the events that carry what the relay needs are read: ``message_start`` (the
input usage: input, cache writes and cache reads apart), ``message_delta`` (stop_reason and the
cumulative usage), ``message_stop`` (the proper end) and ``error`` (forwarded as it came; the
relay records the failure). A read holding none of them (text deltas, pings) is passed on
without being parsed. A stream cut after message_start is settled with its input counts and an
estimate of the output, marked estimated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from edge.adapters._anthropic_stream import error_info, finish_reason_for, usage_from_anthropic
from edge.adapters.types import Usage
from edge.fastpath import jsonio, tokens

from ..types import StreamState

__all__ = ["MessagesPassthrough"]

_EVENT_END = re.compile(rb"\r?\n\r?\n")
_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403, "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}


class MessagesPassthrough:
    def __init__(self, public_model: str, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self.state = StreamState()
        self._public = public_model
        self._scrub = scrub
        self._held = b""
        self._usage: dict[str, Any] = {}
        self._relayed = 0  # bytes of the content events: a cut stream's output is estimated from them
        self.started = False  # message_start went by (a ping may follow it)
        self.progress = 0  # upstream reads (the sink pings when it stands still)

    def feed(self, data: bytes) -> bytes:
        self.progress += 1
        buf = self._held + data if self._held else data
        cut = buf.rfind(b"\n\n")
        if cut >= 0:
            last = cut + 2
        else:  # CRLF framing (Anthropic sends LF; a proxy in front may not)
            cut = buf.rfind(b"\r\n\r\n")
            if cut < 0:
                self._held = buf
                return b""
            last = cut + 4
        if last == len(buf):
            self._held = b""
            return self._out(buf)
        whole, self._held = buf[:last], buf[last:]
        return self._out(whole)

    def flush(self) -> bytes:
        rest, self._held = self._held, b""
        return self._out(rest) if rest.strip() else b""

    def tail(self) -> None:
        return None  # the upstream's own message_delta and message_stop went through

    def final(self) -> StreamState:
        state = self.state
        if state.usage is None and self._usage:
            # Cut before message_delta: the input as reported, the output estimated.
            seen = usage_from_anthropic(self._usage) or Usage()
            state.usage = Usage(seen.prompt_tokens, tokens.estimate_tokens_from_bytes(state.text_bytes), seen.cached_tokens, 0, True, seen.cache_write_tokens)
        return state

    def _out(self, whole: bytes) -> bytes:
        state = self.state
        if b"message_" in whole or b"error" in whole:
            whole = b"".join(self._event(e) for e in _split(whole))
        else:
            self._relayed += len(whole)
        # A delta event is mostly framing: about a quarter of it is text (an estimate's input only).
        state.text_bytes = self._relayed // 4
        return self._scrub(whole) if whole and self._scrub is not None else whole

    def _event(self, raw: bytes) -> bytes:
        name, data = _parts(raw)
        if name not in (b"message_start", b"message_delta", b"message_stop", b"error", None):
            self._relayed += len(raw)
            return raw
        try:
            doc = jsonio.loads(data) if data.strip() else None
        except jsonio.JSONDecodeError:
            self.state.malformed = True
            return raw
        if not isinstance(doc, dict):
            return raw
        kind = doc.get("type")
        state = self.state
        if kind == "message_start":
            message = _obj(doc.get("message"))
            if isinstance(message.get("usage"), dict):
                self._usage.update(message["usage"])
            self.started = True
            return self._renamed(raw, doc, message)
        if kind == "message_delta":
            usage = doc.get("usage")
            if isinstance(usage, dict):
                self._usage.update({k: v for k, v in usage.items() if v is not None})
            state.usage = usage_from_anthropic(self._usage)
            delta = _obj(doc.get("delta"))
            state.finish_reason = finish_reason_for(delta.get("stop_reason")) or state.finish_reason
        elif kind == "message_stop":
            state.done = True
        elif kind == "error":
            err = _obj(doc.get("error"))
            state.error = error_info(_STATUS.get(str(err.get("type")), 500), err, None, ())
            state.error_forwarded = True
        return raw

    def _renamed(self, raw: bytes, doc: dict[str, Any], message: dict[str, Any]) -> bytes:
        old = message.get("model")
        if old == self._public:
            return raw
        if isinstance(old, str):
            found = list(re.finditer(rb'"model"\s*:\s*' + re.escape(jsonio.dumps(old)), raw))
            if len(found) == 1:
                m = found[0]
                return raw[: m.start()] + b'"model":' + jsonio.dumps(self._public) + raw[m.end() :]
        message["model"] = self._public
        return b"event: message_start\ndata: " + jsonio.dumps(doc) + b"\n\n"


def _split(whole: bytes) -> list[bytes]:
    """Whole events, each with its blank line."""
    out, start = [], 0
    for m in _EVENT_END.finditer(whole):
        out.append(whole[start : m.end()])
        start = m.end()
    if start < len(whole):
        out.append(whole[start:])
    return out


def _parts(raw: bytes) -> tuple[bytes | None, bytes]:
    """An event's name (None when it has no ``event:`` line) and its data."""
    name: bytes | None = None
    data: list[bytes] = []
    for line in raw.splitlines():
        if line.startswith(b"event:"):
            name = line[6:].strip()
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
    return name, b"\n".join(data)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
