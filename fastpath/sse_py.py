# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Incremental server-sent-events decoder: bytes in, events out.

Follows WHATWG HTML, section 9.2 "Server-sent events", "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end in CRLF, LF or CR; a line starting with ":" is a comment; "field: value" with a
single leading space stripped from the value; a field with no colon has an empty value;
"data" lines are joined by LF; "id" containing NUL is ignored; "retry" must be ASCII digits;
a blank line dispatches the event unless no data line was seen; one leading UTF-8 BOM is
dropped. Unknown fields are ignored.

Deliberate differences from a browser:
- ``data`` stays raw bytes (the payload is JSON for us; decoding it twice would be waste).
- ``event`` is "" when the stream named no type (a browser reports "message").
- ``retry`` is attached to the event whose block carried it (a browser only stores it).
- ``flush()`` at end of body dispatches a final event that lacked its blank line, if it
  has data. Browsers discard it, but an upstream cut mid-stream still sent us tokens the
  client must get and the ledger must count.
- A line or event over ``max_event_bytes`` raises ``SSEError`` so one 100 MB line cannot
  exhaust memory.

This file is the source of truth; ``sse_c.pxd`` types it and setup.py compiles it as
``edge.fastpath.sse_c``.
"""

from __future__ import annotations

from ._errors import SSEError

__all__ = ["SSEDecoder", "SSEError", "SSEEvent"]

_BOM = b"\xef\xbb\xbf"
_DEFAULT_MAX = 16 * 1024 * 1024


class SSEEvent:
    """One dispatched event: type ("" if none), raw data, last event id, retry (ms)."""

    def __init__(self, event: str, data: bytes, id: str | None, retry: int | None) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __repr__(self) -> str:
        return (
            f"SSEEvent(event={self.event!r}, data={self.data!r}, "
            f"id={self.id!r}, retry={self.retry!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEEvent):
            return NotImplemented
        return (
            self.event == other.event
            and self.data == other.data
            and self.id == other.id
            and self.retry == other.retry
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value object, like a dict


class SSEDecoder:
    """Feed raw body bytes in any split; get complete events back.

    ``last_event_id`` is the spec's "last event ID buffer" (it persists across events, so
    every event carries the newest id); ``retry`` is the newest reconnection time seen.
    """

    def __init__(self, max_event_bytes: int = _DEFAULT_MAX, *, data_only: bool = False) -> None:
        if max_event_bytes <= 0:
            raise ValueError("max_event_bytes must be positive")
        self.max_event_bytes = max_event_bytes
        # data_only: feed/flush return each event's data bytes instead of SSEEvent objects,
        # for consumers that only read data (the chat re-encoder): no object per event.
        self.data_only = bool(data_only)
        self.last_event_id: str | None = None
        self.retry: int | None = None
        # Pieces of the current unterminated line; a list, not bytes +=, so an event that
        # trickles in over thousands of reads costs linear, not quadratic, copying.
        self._tail: list[bytes] = []
        self._tail_len = 0
        self._skip_lf = False  # the previous read ended in CR; a leading LF completes CRLF
        self._at_start = True  # the BOM may only appear at the very start of the stream
        self._head = b""
        self._data: list[bytes] = []
        self._data_len = 0
        self._has_data = False
        self._event = ""
        self._event_retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent | bytes]:
        events: list[SSEEvent | bytes] = []
        if not chunk:
            return events
        if self._at_start:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return events
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
                if not chunk:
                    return events
        # bytes.splitlines splits on exactly the SSE line ends (CRLF, LF, CR) in one C
        # call; whether the last piece is complete depends on how the chunk ends.
        lines = chunk.splitlines()
        last = chunk[len(chunk) - 1]
        complete = last == 10 or last == 13
        # A CR ending the read may be the first half of a CRLF split across reads.
        self._skip_lf = last == 13
        count = len(lines)
        if not complete:
            count -= 1
        k = 0
        while k < count:
            line = lines[k]
            if self._tail_len:
                self._tail.append(line)
                line = b"".join(self._tail)
                self._tail = []
                self._tail_len = 0
            self._line(line, events)
            k += 1
        if not complete:
            line = lines[count]
            self._tail.append(line)
            self._tail_len += len(line)
            if self._tail_len > self.max_event_bytes:
                raise SSEError(
                    f"SSE line exceeds {self.max_event_bytes} bytes without a line break"
                )
        return events

    def flush(self) -> list[SSEEvent | bytes]:
        """End of body: finish an unterminated line and dispatch a pending event."""
        events: list[SSEEvent | bytes] = []
        if self._head:
            # A stream of only 1-2 bytes that looked like a BOM start: they are content.
            self._tail.append(self._head)
            self._tail_len += len(self._head)
            self._head = b""
        if self._tail_len:
            line = b"".join(self._tail)
            self._tail = []
            self._tail_len = 0
            self._line(line, events)
        self._line(b"", events)
        self._skip_lf = False
        self._at_start = True
        return events

    def _strip_bom(self, chunk: bytes) -> bytes:
        if self._head:
            chunk = self._head + chunk
            self._head = b""
        if len(chunk) < 3 and _BOM.startswith(chunk):
            self._head = chunk  # could still become a BOM; decide on the next read
            return b""
        self._at_start = False
        if chunk.startswith(_BOM):
            return chunk[3:]
        return chunk

    def _reset_event(self) -> None:
        self._data = []
        self._data_len = 0
        self._has_data = False
        self._event = ""
        self._event_retry = None

    def _line(self, line: bytes, events: list[SSEEvent | bytes]) -> None:
        n = len(line)
        if n == 0:
            if self._has_data:
                data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
                if self.data_only:
                    events.append(data)
                    self._reset_event()
                    return
                # __new__ + fields: the compiled build skips __init__'s argument parsing.
                ev = SSEEvent.__new__(SSEEvent)
                ev.event = self._event
                ev.data = data
                ev.id = self.last_event_id
                ev.retry = self._event_retry
                events.append(ev)
            self._reset_event()
            return
        if n > self.max_event_bytes:
            raise SSEError(f"SSE line of {n} bytes exceeds {self.max_event_bytes}")
        if line[0] == 58:  # ":" comment, used by servers as keep-alive
            return
        if n >= 5 and line[4] == 58 and line[0] == 100 and line[1] == 97 and line[2] == 116 \
                and line[3] == 97:
            # "data:" is nearly every line; take it without slicing out the name.
            value = line[6:] if n > 5 and line[5] == 32 else line[5:]
            self._data_len += len(value) + 1
            if self._data_len > self.max_event_bytes:
                raise SSEError(f"SSE event exceeds {self.max_event_bytes} bytes")
            self._data.append(value)
            self._has_data = True
            return
        colon = line.find(b":")
        if colon == -1:
            name = line
            value = b""
        else:
            name = line[:colon]
            start = colon + 1
            if start < n and line[start] == 32:
                start += 1
            value = line[start:]
        if name == b"data":
            self._data_len += len(value) + 1
            if self._data_len > self.max_event_bytes:
                raise SSEError(f"SSE event exceeds {self.max_event_bytes} bytes")
            self._data.append(value)
            self._has_data = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if value.find(b"\x00") == -1:
                self.last_event_id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value and value.isdigit():
                self._event_retry = int(value)
                self.retry = self._event_retry
