"""A Responses stream from a server that speaks the Responses API, passed through.

The transcoder of the native pairing (``OPENAI_RESPONSES`` in the adapter's ``passthrough``):
each SSE event goes to the client as the upstream framed it, except the events that carry the
response object (``response.created``, ``.in_progress``, ``.completed``, ``.incomplete``,
``.failed``, ``.queued``), whose ``response.model`` becomes the public model name. Nothing else
is decoded: an event's type is read from its ``event:`` line (or the ``type`` its data opens
with), and the last ``sequence_number`` by a byte search, only when the gateway must end the
stream itself and continue the numbering (reads of deltas pass through unparsed).

What the relay needs is kept in the ``StreamState``: the end (``response.completed`` or
``.incomplete``), the usage of the final response, an ``error`` event or ``response.failed``
(forwarded as the upstream worded it), and the size of the deltas for an estimate. The final
``response.completed`` / ``.incomplete`` event is held back: the sink stores the response
(``store: true``) before the client sees it end, then writes it (``final_event``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from edge.adapters.responses_wire import usage_from_responses
from edge.adapters._openai_stream import stream_error
from edge.fastpath import jsonio

from ..types import StreamState

__all__ = ["NativeResponsesStream"]

_MAX_EVENT = 16 * 1024 * 1024
_WITH_RESPONSE = frozenset((b"response.created", b"response.in_progress", b"response.completed", b"response.incomplete", b"response.failed", b"response.queued"))
_OPENING = frozenset((b"response.created", b"response.in_progress", b"response.queued"))
_FINAL = frozenset((b"response.completed", b"response.incomplete"))
_TYPE = re.compile(rb'"type"\s*:\s*"([^"]+)"')
_SEQ = re.compile(rb'"sequence_number"\s*:\s*(\d+)')
_SEPARATOR = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class NativeResponsesStream:
    """Responses SSE in, the same SSE out with the model renamed (a ``Transcoder[bytes]``)."""

    def __init__(self, public_model: str, scrub: Callable[[bytes], bytes] | None = None, scrub_body: Callable[[bytes], bytes] | None = None) -> None:
        self._model = public_model
        self._scrub = scrub  # each piece passed on (Scrubber.sse)
        # The final response's JSON, stored and sent (Scrubber.bytes: secrets out, as a stored
        # plain answer); ``scrub`` when not given.
        self._scrub_body = scrub_body if scrub_body is not None else scrub
        self._buffer = b""
        self.state = StreamState()
        self._seq = -1  # the highest sequence_number of the events read one by one
        self._last_block = b""  # the last block passed whole: its numbers are read only if needed
        self.final_event: bytes | None = None  # the held-back completed / incomplete event
        self.final_json: bytes | None = None  # the final response as JSON, scrubbed: what is stored
        self.failed_forwarded = False
        self.response_id: str | None = None
        self._model_field = b'"model":' + jsonio.dumps(public_model)

    def feed(self, data: bytes) -> bytes:
        if self.state.error is not None or self.state.malformed:
            return b""
        buffer = self._buffer + data if self._buffer else data
        if buffer.endswith(b"\n\n"):  # the usual read: whole events
            block, self._buffer = buffer, b""
        else:
            end = _last_separator(buffer)
            if end < 0:
                self._buffer = buffer
                if len(buffer) > _MAX_EVENT:
                    raise ValueError(f"an event is larger than {_MAX_EVENT} bytes")
                return b""
            block, self._buffer = buffer[:end], buffer[end:]
        if b'"response":' not in block and b"error" not in block:
            # Deltas and part events only (nearly every read): passed on whole, nothing split,
            # nothing parsed; the text's size, about, for an estimate.
            self._last_block = block
            self.state.text_bytes += max(0, len(block) - 160 * block.count(b"data:"))
            return self._scrub(block) if self._scrub is not None else block
        out: list[bytes] = []
        for raw in _split(block):
            piece = self._event(raw)
            if piece:
                out.append(piece)
            if self.state.error is not None or self.state.malformed:
                break
        joined = b"".join(out)
        return self._scrub(joined) if joined and self._scrub is not None else joined

    @property
    def last_seq(self) -> int:
        """The highest sequence_number sent so far (the gateway numbers on from it when it
        must end the stream itself)."""
        return max(self._seq, _last_number(self._last_block))

    def flush(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        if not rest.strip() or self.state.error is not None:
            return b""
        piece = self._event(rest + b"\n\n")
        return self._scrub(piece) if piece and self._scrub is not None else piece

    def tail(self) -> None:
        return None  # the sink writes the held-back final event after storing

    def final(self) -> StreamState:
        return self.state

    def _event(self, raw: bytes) -> bytes:
        kind = _kind(raw)
        self._seq = max(self._seq, _last_number(raw))
        if kind not in _WITH_RESPONSE and kind != b"error":
            if kind.endswith(b".delta"):
                self.state.text_bytes += max(0, len(raw) - 160)  # the delta, about: no decode
            return raw
        if kind in _OPENING:
            spliced = self._splice(raw)
            if spliced is not None:
                return spliced
        elif kind in _FINAL and self._final_spliced(raw, kind):
            return b""
        data = _data(raw)
        try:
            doc = jsonio.loads(data)
        except jsonio.JSONDecodeError:
            self.state.malformed = True
            return b""
        if not isinstance(doc, dict):
            return raw
        if kind == b"error":
            self.state.error = stream_error(doc.get("error") if isinstance(doc.get("error"), dict) else doc)
            self.state.error_forwarded = True
            return raw
        response = doc.get("response")
        if not isinstance(response, dict):
            return raw
        response["model"] = self._model
        if isinstance(response.get("id"), str):
            self.response_id = response["id"]
        head = raw[: raw.find(b"data:")] if raw.startswith(b"event:") else b""
        if kind in _FINAL:
            # The response is encoded once: its JSON is both the stored row and the held-back
            # event's payload (which the feed's scrub never sees, so it is scrubbed here).
            encoded = jsonio.dumps(response)
            rest = jsonio.dumps({k: v for k, v in doc.items() if k != "response"})
            self._hold(kind, head, rest[:-1] + (b',"response":' if len(rest) > 2 else b'{"response":'), encoded, b"}", response.get("usage"))
            return b""
        rewritten = head + b"data: " + jsonio.dumps(doc) + b"\n\n"
        if kind == b"response.failed":
            err = response.get("error")
            if self.state.error is None:
                self.state.error = stream_error(err if isinstance(err, dict) else {"message": "the upstream response failed"})
            self.state.error_forwarded = True
            self.failed_forwarded = True
            return rewritten
        return rewritten

    def _hold(self, kind: bytes, head: bytes, before: bytes, response: bytes, after: bytes, usage: Any) -> None:
        """Keep the final event (``before`` + the response's JSON + ``after``) for the sink."""
        encoded = self._scrub_body(response) if self._scrub_body is not None else response
        self.state.done = True
        self.state.finish_reason = "length" if kind == b"response.incomplete" else "stop"
        self.state.usage = usage_from_responses(usage)
        self.final_json = encoded
        self.final_event = head + b"data: " + before + encoded + after + b"\n\n"

    def _final_spliced(self, raw: bytes, kind: bytes) -> bool:
        """The final event held with its model renamed in the bytes (``_splice``'s rule), the
        response's id and usage read without decoding the rest; False when that cannot be done
        surely (the caller decodes and encodes it)."""
        data = _data(raw)
        if b"\n" in data:  # data of several lines: sent again as one, re-encoded
            return False
        try:
            envelope = _decode_final(data)
            found = _decode_final_head(envelope.response)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        response = bytes(envelope.response)
        renamed = self._renamed(response, found.model)
        at = data.find(response)
        if renamed is None or at < 0:
            return False
        if found.id is not None:
            self.response_id = found.id
        head = raw[: raw.find(b"data:")] if raw.startswith(b"event:") else b""
        self._hold(kind, head, data[:at], renamed, data[at + len(response) :], found.usage)
        return True

    def _renamed(self, raw: bytes, model: str | None) -> bytes | None:
        """``raw`` with ``"model":"<model>"`` made the public name, when found exactly once.
        Inside a JSON string every quote is escaped, so that text found once is the response's
        own model (a second one, in metadata say, makes it ambiguous)."""
        if model is None:
            return None
        needle = b'"model":' + jsonio.dumps(model)
        at = raw.find(needle)
        if at < 0 or raw.find(needle, at + 1) >= 0:
            return None
        return raw[:at] + self._model_field + raw[at + len(needle) :]

    def _splice(self, raw: bytes) -> bytes | None:
        """An opening event (created, in_progress, queued) with its model renamed in the bytes,
        without decoding the response into objects; None when that cannot be done surely (the
        caller decodes and encodes it). Only the response's id and model are read (msgspec
        skips the rest)."""
        try:
            head = _decode_head(_data(raw)).response
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        renamed = self._renamed(raw, head.model)
        if renamed is not None and head.id is not None:
            self.response_id = head.id
        return renamed


class _Head(msgspec.Struct):
    id: str | None = None
    model: str | None = None


class _Envelope(msgspec.Struct):
    response: _Head


class _FinalHead(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: Any = None


class _FinalEnvelope(msgspec.Struct):
    response: msgspec.Raw  # its bytes as the upstream wrote them


_decode_head = msgspec.json.Decoder(_Envelope).decode
_decode_final = msgspec.json.Decoder(_FinalEnvelope).decode
_decode_final_head = msgspec.json.Decoder(_FinalHead).decode


def _split(block: bytes) -> list[bytes]:
    """The events of ``block`` (whole events), each with its separator."""
    if b"\r" not in block:  # the usual framing: a C-level split
        return [piece + b"\n\n" for piece in block.split(b"\n\n") if piece and not piece.isspace()]
    out, start = [], 0
    for found in _SEPARATOR.finditer(block):
        if block[start:found.start()].strip():
            out.append(block[start:found.end()])
        start = found.end()
    return out


def _last_number(raw: bytes) -> int:
    """The last ``sequence_number`` in ``raw`` (-1: none). In JSON text, a quoted key followed
    by a colon cannot come from inside a string (its quotes would be escaped)."""
    at = raw.rfind(b'"sequence_number":')
    found = _SEQ.match(raw, at) if at >= 0 else None
    return int(found.group(1)) if found is not None else -1


def _last_separator(buffer: bytes) -> int:
    """Where the last complete event of ``buffer`` ends (-1: none yet)."""
    lf = buffer.rfind(b"\n\n")
    if lf >= 0:
        return lf + 2
    found = None
    for found in _SEPARATOR.finditer(buffer):
        pass
    return found.end() if found is not None else -1


def _kind(raw: bytes) -> bytes:
    if raw.startswith(b"event:"):
        line = raw[6 : raw.find(b"\n")]
        return line.strip()
    found = _TYPE.search(raw)
    return found.group(1) if found is not None else b""


def _data(raw: bytes) -> bytes:
    """The data of one event (its ``data:`` lines joined, as the SSE spec says)."""
    at = raw.find(b"data:")
    if at >= 0 and raw.find(b"data:", at + 5) < 0 and b"\r" not in raw and (at == 0 or raw[at - 1] == 10):
        end = raw.find(b"\n", at)  # one data line (nearly every event): no split into lines
        line = raw[at + 5 : end if end >= 0 else len(raw)]
        return line[1:] if line[:1] == b" " else line
    lines = [line[5:].removeprefix(b" ") for line in raw.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines)
