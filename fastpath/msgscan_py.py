# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Framing and triage of an Anthropic Messages stream for the byte pass-through.

Input: the raw upstream body of a streamed ``POST /v1/messages`` (Anthropic's "Streaming
Messages" events, framed as WHATWG HTML "server-sent events"; wire-formats 2.4). Output: the
same bytes, in whole events only: ``feed`` returns every event completed so far and holds back
the rest, ``flush`` returns what was held when the body ended. Nothing is decoded into objects.

An event ends at a blank line: LF or CRLF, then LF or CRLF. Of each event only the name on its
``event:`` line is read. The events the gateway must parse are marked by their spans in the
output (``marks``: ``(kind, start, end)``), for the caller to read: ``message_start`` (the
input usage, the model to rename), ``message_delta`` (stop reason, cumulative usage),
``message_stop``, ``error``, and any event without a name (read by its data's ``type``).
Everything else (content_block_*, ping) is passed as it is; of a ``content_block_delta`` the
size of its text (the ``text``, ``thinking`` or ``partial_json`` string, less one byte per
backslash: an estimate) is added to ``text_bytes``, to estimate tokens when usage never
arrives. An event over ``max_event_bytes`` raises ``SSEError``.

The pure build looks with ``bytes`` methods (find, count: C loops behind one call each); the
compiled one scans with its own loops instead (``_COMPILED``), since calling a method costs more
than scanning an event of a hundred bytes. Both find the same bytes: the tests hold the two
builds to the same output, marks and counts on every split of the recorded streams.

Source of truth for both builds: ``msgscan_c.pxd`` types it, setup.py compiles it as
``edge.fastpath.msgscan_c``.
"""

from __future__ import annotations

from ._errors import SSEError

try:  # Cython's pure-Python mode: cython.compiled is True in the compiled build only
    import cython

    _COMPILED = cython.compiled
except ImportError:  # a pure install without Cython
    _COMPILED = False

__all__ = ["ERROR", "MESSAGE_DELTA", "MESSAGE_START", "MESSAGE_STOP", "MessagesScanner", "SSEError", "UNNAMED"]

_DEFAULT_MAX = 16 * 1024 * 1024
# Kinds of marked events: C ints inside the compiled build (msgscan_c.pxd), exported under
# the public names below for the caller.
_START = 1
_DELTA = 2
_STOP = 3
_ERROR = 4
_UNNAMED = 5
MESSAGE_START = _START
MESSAGE_DELTA = _DELTA
MESSAGE_STOP = _STOP
ERROR = _ERROR
UNNAMED = _UNNAMED

def _end(b: bytes, i: int, n: int) -> int:
    # The compiled build's boundary search: the end of the first LF-LF or LF-CR-LF at or after
    # i (the first LF followed by an LF or a CR LF), -1 when there is none yet.
    while i < n:
        if b[i] == 10:
            if i + 1 < n and b[i + 1] == 10:
                return i + 2
            if i + 2 < n and b[i + 1] == 13 and b[i + 2] == 10:
                return i + 3
        i += 1
    return -1


def _find(b: bytes, lit: bytes, s: int, e: int) -> int:
    # b.find(lit, s, e), lit starting with a quote.
    if not _COMPILED:
        return b.find(lit, s, e)
    last = e - len(lit)
    while s <= last:
        if b[s] == 34 and b.startswith(lit, s):
            return s
        s += 1
    return -1


def _last_quote(b: bytes, s: int, e: int) -> int:
    # b.rfind(b'"', s, e)
    if not _COMPILED:
        return b.rfind(b'"', s, e)
    e -= 1
    while e >= s:
        if b[e] == 34:
            return e
        e -= 1
    return -1


def _backslashes(b: bytes, s: int, e: int) -> int:
    # b.count(b"\\", s, e)
    if not _COMPILED:
        return b.count(b"\\", s, e)
    k = 0
    while s < e:
        if b[s] == 92:
            k += 1
        s += 1
    return k


def _name(b: bytes, p: int, name: bytes) -> bool:
    # b[p:] starts with the whole name: its line ends (or spaces follow) right after it.
    if not b.startswith(name, p):
        return False
    q = p + len(name)
    return q >= len(b) or b[q] == 10 or b[q] == 13 or b[q] == 32


class MessagesScanner:
    """One stream's framing state and what it counted."""

    def __init__(self, max_event_bytes: int = _DEFAULT_MAX) -> None:
        self.max_event_bytes = max_event_bytes
        self.marks: list[tuple[int, int, int]] = []  # the marked events of the last output
        self.events = 0  # whole events returned so far
        self.reads = 0  # feed calls
        self.text_bytes = 0
        self._held = b""
        self._resume = 0  # where, in the held bytes, the search for a line end goes on

    def feed(self, chunk: bytes) -> bytes:
        """The whole events completed by ``chunk``; the rest is held for the next call."""
        self.reads += 1
        if self.marks:
            self.marks = []
        if self._held:
            buf = self._held + chunk
            i = self._resume
        else:
            buf = chunk
            i = 0
        n = len(buf)
        start = 0  # the first byte of the event being framed
        # The next LF-LF and LF-CR-LF at or after i (n: none left): each searched once per
        # stretch, so a stream of one framing never rescans for the other.
        lf = -1
        cr = -1
        while i < n:
            if _COMPILED:
                end = _end(buf, i, n)
                if end < 0:
                    break
                self._event(buf, start, end)
                start = end
                i = end
                continue
            if lf < i:
                lf = buf.find(b"\n\n", i)
                if lf < 0:
                    lf = n
            if cr < i:
                cr = buf.find(b"\n\r\n", i)
                if cr < 0:
                    cr = n
            if lf < cr:
                end = lf + 2
            elif cr < n:
                end = cr + 3
            else:
                break
            self._event(buf, start, end)
            start = end
            i = end
        if start == n:
            self._held = b""
            self._resume = 0
            return buf
        if n - start > self.max_event_bytes:
            raise SSEError(f"an event exceeds max_event_bytes ({self.max_event_bytes})")
        # A boundary may straddle this read and the next: search again from its last two bytes.
        self._resume = max(n - start - 2, 0)
        if start == 0:
            self._held = buf
            return b""
        self._held = buf[start:]
        return buf[:start]

    def flush(self) -> bytes:
        """What was held when the body ended (an event without its blank line), as one event."""
        if self.marks:
            self.marks = []
        rest = self._held
        self._held = b""
        self._resume = 0
        if not rest.strip():
            return b""
        self._event(rest, 0, len(rest))
        return rest

    def _event(self, b: bytes, s: int, e: int) -> None:
        self.events += 1
        # The name: after "event:" and one optional space, on the event's first line
        # (Anthropic's order) or a later one.
        if b.startswith(b"event:", s):
            p = s + 6
        else:
            p = b.find(b"\nevent:", s, e)
            if p < 0:
                if b.find(b"data:", s, e) >= 0:
                    self.marks.append((_UNNAMED, s, e))
                return
            p += 7
        if p < e and b[p] == 32:
            p += 1
        if _name(b, p, b"content_block_delta"):
            self._text(b, p + 19, e)
        elif _name(b, p, b"message_start"):
            self.marks.append((_START, s, e))
        elif _name(b, p, b"message_delta"):
            self.marks.append((_DELTA, s, e))
        elif _name(b, p, b"message_stop"):
            self.marks.append((_STOP, s, e))
        elif _name(b, p, b"error"):
            self.marks.append((_ERROR, s, e))

    def _text(self, b: bytes, s: int, e: int) -> None:
        # The delta's string: text_delta's "text", thinking_delta's "thinking" or
        # input_json_delta's "partial_json" (a signature is not output text). Inside a JSON
        # string every quote is escaped, so these keys can only be the delta's own.
        q = _find(b, b'"text":', s, e)
        if q >= 0:
            q += 7
        else:
            q = _find(b, b'"thinking":', s, e)
            if q >= 0:
                q += 11
            else:
                q = _find(b, b'"partial_json":', s, e)
                if q < 0:
                    return
                q += 15
        if q < e and b[q] == 32:
            q += 1
        if q >= e or b[q] != 34:
            return
        q += 1
        z = _last_quote(b, q, e)
        if z > q:
            self.text_bytes += z - q - _backslashes(b, q, z)
