"""Anthropic Messages SSE in, the same bytes out: the pass-through transcoder (section 2.4).

For routes that speak the Messages API (``Adapter.native_messages``): whole events are written
as they arrive, byte for byte, except ``message_start``, whose ``message.model`` becomes the
public name. fastpath's scanner (edge.fastpath.msgscan, compiled) frames the events and reads
only their names; the events that carry what the relay needs are parsed here: ``message_start``
(the input usage: input, cache writes and cache reads apart), ``message_delta`` (stop_reason and
the cumulative usage), ``message_stop`` (the proper end) and ``error`` (forwarded as it came;
the relay records the failure). Content events and pings are passed on without being parsed (a
read of only those costs one scanner call). A stream cut after message_start is settled with
its input counts and an estimate of the output (the text the scanner counted), marked estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.adapters._anthropic_native import model_replaced
from edge.adapters._anthropic_stream import error_info, finish_reason_for, usage_from_anthropic
from edge.adapters.types import Usage
from edge.fastpath import jsonio, tokens
from edge.fastpath.msgscan import ERROR, MESSAGE_DELTA, MESSAGE_START, MESSAGE_STOP, MessagesScanner

from ..types import StreamState

__all__ = ["MessagesPassthrough"]

_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403, "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}
_TYPES = {MESSAGE_START: "message_start", MESSAGE_DELTA: "message_delta", ERROR: "error"}


class MessagesPassthrough:
    def __init__(self, public_model: str, scrub: Callable[[bytes], bytes] | None = None) -> None:
        self.state = StreamState()
        self._public = public_model
        self._scrub = scrub
        self._scan = MessagesScanner()
        self._usage: dict[str, Any] = {}
        self.started = False  # message_start went by (a ping may follow it)

    @property
    def progress(self) -> int:
        """Upstream reads so far (the sink pings when it stands still)."""
        return self._scan.reads

    def feed(self, data: bytes) -> bytes:
        scan = self._scan
        out = scan.feed(data)
        if scan.marks:
            out = self._marked(out, scan.marks)
        return self._scrub(out) if out and self._scrub is not None else out

    def flush(self) -> bytes:
        scan = self._scan
        out = scan.flush()
        if scan.marks:
            out = self._marked(out, scan.marks)
        return self._scrub(out) if out and self._scrub is not None else out

    def tail(self) -> None:
        return None  # the upstream's own message_delta and message_stop went through

    def final(self) -> StreamState:
        state = self.state
        state.text_bytes = self._scan.text_bytes
        if state.usage is None and self._usage:
            # Cut before message_delta: the input as reported, the output estimated.
            seen = usage_from_anthropic(self._usage) or Usage()
            state.usage = Usage(seen.prompt_tokens, tokens.estimate_tokens_from_bytes(state.text_bytes), seen.cached_tokens, 0, True, seen.cache_write_tokens)
        return state

    def _marked(self, out: bytes, marks: list[tuple[int, int, int]]) -> bytes:
        """``out`` with its marked events read (and message_start renamed)."""
        pieces: list[bytes] = []
        done = 0
        for kind, start, end in marks:
            if kind == MESSAGE_STOP:  # its name says all there is: no need to parse it
                self.state.done = True
                continue
            raw = out[start:end]
            new = self._event(raw, _TYPES.get(kind))
            if new is not raw:
                pieces += (out[done:start], new)
                done = end
        if not pieces:
            return out
        pieces.append(out[done:])
        return b"".join(pieces)

    def _event(self, raw: bytes, expected: str | None) -> bytes:
        data = _data(raw)
        try:
            doc = jsonio.loads(data) if data.strip() else None
        except jsonio.JSONDecodeError:
            self.state.malformed = True
            return raw
        if not isinstance(doc, dict):
            return raw
        kind = doc.get("type")
        if expected is not None and kind != expected:
            return raw  # an event whose name and type disagree: passed on, not read
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
            state.error = error_info(_STATUS.get(str(err.get("type")), 500), err, None)
            state.error_forwarded = True
        return raw

    def _renamed(self, raw: bytes, doc: dict[str, Any], message: dict[str, Any]) -> bytes:
        old = message.get("model")
        if old == self._public:
            return raw
        if isinstance(old, str):
            found = model_replaced(raw, old, self._public)
            if found is not None:
                return found
        message["model"] = self._public
        return b"event: message_start\ndata: " + jsonio.dumps(doc) + b"\n\n"


def _data(raw: bytes) -> bytes:
    """An event's data (its data lines joined)."""
    at = raw.find(b"\ndata: ")
    if at >= 0 and raw.find(b"\ndata:", at + 7) < 0 and raw.find(b"\r", at) < 0:  # Anthropic's one data line
        end = raw.find(b"\n", at + 7)
        return raw[at + 7 : end] if end >= 0 else raw[at + 7 :]
    data = [line[6:] if line[5:6] == b" " else line[5:] for line in raw.splitlines() if line.startswith(b"data:")]
    return data[0] if len(data) == 1 else b"\n".join(data)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
