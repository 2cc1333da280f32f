"""Incremental gzip and deflate decoding of upstream bodies, in bounded steps (RFC 9110 8.4.1).

The body's compressed bytes are queued with ``push`` and decoded with ``pull(limit)``, which
gives at most ``limit`` bytes: a small input can expand a thousandfold (deflate's best ratio is
about 1,032:1), so what is bounded is the output of a step, never its input. zlib is handed the
input in slices of ``_IN_SLICE`` bytes because a bounded call copies the input it could not use
into ``unconsumed_tail``: with whole socket reads that copy, once per step, would cost more than
the decoding. The caller (response.py) decides how many steps run per turn of the event loop and
how much output a body may have in all.

HTTP "deflate" is the zlib format by the RFC and raw deflate in some servers: both are read.
"""

from __future__ import annotations

import collections
import zlib
from typing import Any

__all__ = ["Inflater"]

_IN_SLICE = 16 * 1024
_EMPTY = memoryview(b"")


class Inflater:
    """One body's decoder: compressed bytes in (``push``), bounded pieces out (``pull``)."""

    __slots__ = ("_zlib", "_queue", "_view", "_at")

    def __init__(self, encoding: str) -> None:
        """``encoding``: "gzip" or "deflate" (the connection maps x-gzip and refuses the rest)."""
        # deflate's decoder is made once its first two bytes say which flavour it is.
        self._zlib: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
        self._queue: collections.deque[bytes] = collections.deque()
        self._view = _EMPTY  # the piece being decoded, from ``_at`` on
        self._at = 0

    @property
    def pending(self) -> bool:
        """Queued input is waiting to be decoded."""
        return self._at < len(self._view) or bool(self._queue)

    def push(self, data: bytes) -> None:
        self._queue.append(data)

    def pull(self, limit: int) -> bytes:
        """Up to ``limit`` decoded bytes; b"" once the queued input is used up (or, for deflate,
        while fewer than two bytes have come). Raises zlib.error on bytes that are not in the
        declared encoding."""
        decoder = self._zlib or self._start(False)
        if decoder is None:
            return b""
        out: list[bytes] = []
        room = limit
        while room > 0:
            view, at = self._view, self._at
            if at >= len(view):
                if not self._queue:
                    break
                view, at = self._view, self._at = memoryview(self._queue.popleft()), 0
            if decoder.eof:
                # Bytes after the end of the compressed stream (RFC 1952 allows further gzip
                # members; HTTP servers do not send them): dropped, as before this module.
                self._queue.clear()
                self._view, self._at = _EMPTY, 0
                break
            piece = view[at:at + _IN_SLICE]
            data = decoder.decompress(piece, room)
            self._at = at + len(piece) - len(decoder.unconsumed_tail)
            if data:
                out.append(data)
                room -= len(data)
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def finish(self) -> bytes:
        """The end of the body, once ``pull`` gave b"": what zlib still holds (a few hundred
        bytes at most). ``flush`` would decode any input left without a bound, hence the order."""
        decoder = self._zlib or self._start(True)
        rest = bytes(self._view[self._at:])  # only a deflate body shorter than two bytes
        self._view, self._at = _EMPTY, 0
        return (decoder.decompress(rest) if rest else b"") + decoder.flush()

    def _start(self, final: bool) -> Any:
        """deflate: the decoder for the flavour its first two bytes show (RFC 1950 section 2.2)."""
        if self._queue:
            # Once per body, before any decoding: what has come so far, in one piece.
            joined = bytes(self._view[self._at:]) + b"".join(self._queue)
            self._queue.clear()
            self._view, self._at = memoryview(joined), 0
        head = self._view[self._at:self._at + 2]
        if len(head) < 2 and not final:
            return None
        zlib_wrapped = len(head) == 2 and (head[0] & 0x0F) == 8 and ((head[0] << 8) | head[1]) % 31 == 0
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        return self._zlib
