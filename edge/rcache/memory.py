"""The response cache in one worker's memory: bounded in bytes, least recently used out first.

Each entry has its own expiry (the TTL it was stored with); an expired entry is a miss and
goes at once. The bound counts the stored bytes (the encoded entry) plus the key, so the size
a config gives is what the entries take, give or take the dict's own overhead.
"""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["MemoryStore"]

_OVERHEAD = 64  # key text and bookkeeping per entry, roughly


class MemoryStore:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, data = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return data

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        cost = len(data) + _OVERHEAD
        if cost > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl_s, data)
        self.size += cost
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        _, data = self._entries.pop(key)
        self.size -= len(data) + _OVERHEAD

    async def close(self) -> None:
        self._entries.clear()
        self.size = 0
