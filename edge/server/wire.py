"""HTTP/1.1 response heads from precomputed pieces (RFC 9112 section 4, RFC 9110 section 6.6.1).

The status lines are built once; the ``date`` line once per second; a head is one join of
``name: value`` lines, refused if a value holds CR or LF (a header could otherwise smuggle a
second response into the connection), as aiohttp's serializer refuses it.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["CHUNKED_END", "CONTINUE", "Clock", "chunk", "head", "status_line"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNKED_END = b"0\r\n\r\n"

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Status\r\n" % status


class Clock:
    """The ``date`` header line, formatted at most once a second (a site owns one)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self._line


def head(status: int, date_line: bytes, headers: list[tuple[str, str]], framing: bytes) -> bytes:
    """A response head: status line, date, the headers, then ``framing`` (the length or chunked
    line, and ``connection: close`` when the connection ends), then the blank line."""
    text = "".join([f"{name}: {value}\r\n" for name, value in headers])
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise ValueError("a response header holds a line break")
    return b"".join((status_line(status), date_line, text.encode("utf-8"), framing, b"\r\n"))


def chunk(data: bytes) -> bytes:
    """One chunk of the chunked transfer coding (RFC 9112 section 7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
