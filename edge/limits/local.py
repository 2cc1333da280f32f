"""Rate limits kept on this host: exact across the workers of one host, without Redis.

GCRA state (edge.limits.gcra) lives in a table of fixed slots in memory that every worker maps
(a file under the supervisor's shared folder); each check-and-update runs under an exclusive
flock of that file, so two workers can never both take the last unit. A lone worker uses an
anonymous map and no lock. A slot is 24 bytes (key hash, requests TAT, tokens TAT); 16,384 slots
are about 400 KB. Times are wall-clock seconds, which every process on a host shares.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from .gcra import Verdict, check, settle

__all__ = ["LocalLimiter", "PERIOD_S"]

PERIOD_S = 60.0
_SLOT = struct.Struct("<Qdd")
_SLOTS = 16_384


def _hash(key_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(key_id.encode(), digest_size=8).digest(), "little") | 1  # never 0 (empty)


class LocalLimiter:
    def __init__(self, path: Path | None = None) -> None:
        size = _SLOT.size * _SLOTS
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._fd = fd
            self._map = mmap.mmap(fd, size)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _slot(self, key_id: str) -> int:
        """Byte offset of this key's slot (claimed on first use; linear probing)."""
        wanted = _hash(key_id)
        index = wanted % _SLOTS
        for _ in range(_SLOTS):
            offset = index * _SLOT.size
            found = _SLOT.unpack_from(self._map, offset)[0]
            if found == wanted:
                return offset
            if found == 0:
                _SLOT.pack_into(self._map, offset, wanted, 0.0, 0.0)
                return offset
            index = (index + 1) % _SLOTS
        raise RuntimeError("rate-limit table is full")

    def admit(self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, now: float) -> tuple[Verdict | None, Verdict | None]:
        """Check both limits and take from both only when both allow (all or nothing)."""
        with self._locked():
            offset = self._slot(key_id)
            _, r_tat, t_tat = _SLOT.unpack_from(self._map, offset)
            requests = check(r_tat, now, rpm, PERIOD_S, 1) if rpm else None
            token_verdict = check(t_tat, now, tpm, PERIOD_S, tokens) if tpm else None
            if (requests is None or requests.allowed) and (token_verdict is None or token_verdict.allowed):
                new_r = requests.new_tat if requests else r_tat
                new_t = token_verdict.new_tat if token_verdict else t_tat
                _SLOT.pack_into(self._map, offset, _hash(key_id), new_r, new_t)
            return requests, token_verdict

    def settle(self, key_id: str, tpm: int, delta: int, now: float) -> None:
        """The real token count is known: move the token TAT by the difference."""
        if not delta:
            return
        with self._locked():
            offset = self._slot(key_id)
            wanted, r_tat, t_tat = _SLOT.unpack_from(self._map, offset)
            _SLOT.pack_into(self._map, offset, wanted, r_tat, settle(t_tat, now, tpm, PERIOD_S, delta))

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
