"""A large body read whole, gathered in anonymous memory maps that go back to the system at once.

Socket reads and decoding steps arrive in pieces of up to 256 KiB. Kept as they come, thousands
of such pieces sit in the allocator's heap among other objects, and when the body is dropped
(too large, or read) the allocator keeps most of that memory in the process: a 64 MiB body left
the gateway 64 MB larger for good. Grown as one ``bytearray``, a realloc copies the whole body
now and then (over 100 ms at 20 MB, with the event loop held). Fixed-size blocks mapped with
``mmap`` avoid both: each piece is copied once into the current block, and closing the blocks
unmaps them, whatever the allocator's thresholds are.
"""

from __future__ import annotations

import mmap

__all__ = ["Spool"]

_BLOCK = 4 * 1024 * 1024


class Spool:
    """Append-only bytes in blocks of ``_BLOCK``; ``take`` returns them as one bytes object."""

    __slots__ = ("_blocks", "_used")

    def __init__(self) -> None:
        self._blocks: list[mmap.mmap] = []
        self._used = _BLOCK  # bytes used in the last block (none yet: "full")

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._used == _BLOCK:
                self._blocks.append(mmap.mmap(-1, _BLOCK))
                self._used = 0
            room = min(_BLOCK - self._used, len(view))
            self._blocks[-1][self._used:self._used + room] = view[:room]
            self._used += room
            view = view[room:]

    def take(self) -> bytes:
        """Everything appended, as bytes; the blocks are unmapped."""
        if not self._blocks:
            return b""
        views = [memoryview(block) for block in self._blocks]
        last = views[-1][: self._used]
        try:
            return b"".join([*views[:-1], last])
        finally:
            last.release()
            for view in views:
                view.release()
            self.close()

    def close(self) -> None:
        for block in self._blocks:
            block.close()
        self._blocks = []
        self._used = _BLOCK
