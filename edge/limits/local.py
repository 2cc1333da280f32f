"""Rate limits kept on this host: exact across the workers of one host, and Redis's stand-in.

GCRA state (edge.limits.gcra) lives in a table of fixed slots in memory that every worker maps
(a file under the supervisor's shared folder); each check-and-update runs under an exclusive
flock of that file, so two workers can never both take the last unit. A lone worker uses an
anonymous map and no lock. Times are wall-clock seconds, which every process on a host shares.

Without Redis this table is the limiter. With Redis it is what the host falls back to while
Redis cannot be reached, and it must not hand out a fresh window then (issue 16): a local
admission starts from the key's shared state as Redis last reported it to any worker of the
host (``known``, written after every Redis admission: one locked write), each unit costs
``instances`` units (this host's share, so N instances together admit about one limit), and
what is taken is kept as ``pending`` in the key's slot, for whichever worker next reaches Redis
to write back. A count of slots with pending units in the header lets the request path skip
the table while there are none (it is a hint: it may stay above zero, never below).

A slot is 56 bytes (key hash; requests and tokens: TAT, known TAT, pending units); 16,384 slots
are about 900 KB. The header holds this host's instance id (the same for every worker of the host, which
is what registers the host with Redis: edge.limits.health) and the pending count.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import secrets
import struct
from pathlib import Path
from typing import NamedTuple

from .gcra import Verdict, check, settle

__all__ = ["LocalLimiter", "NONE_PENDING", "PERIOD_S", "Pending", "key_hash"]

PERIOD_S = 60.0
_HEADER = struct.Struct("<Qq")  # instance id, slots with pending units
_PENDING_SLOTS = struct.Struct("<q")  # the header's second field, read on its own
_SLOT = struct.Struct("<Qdddddd")  # hash, r_tat, t_tat, r_known, t_known, r_pending, t_pending
_KNOWN = struct.Struct("<dd")  # r_known, t_known, at slot offset + 24
_SLOTS = 16_384


def key_hash(key_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(key_id.encode(), digest_size=8).digest(), "little") | 1  # never 0 (empty)


class Pending(NamedTuple):
    """Units this host admitted while Redis was away, not yet written back to it."""

    requests: float
    tokens: float


NONE_PENDING = Pending(0.0, 0.0)


class LocalLimiter:
    def __init__(self, path: Path | None = None) -> None:
        size = _HEADER.size + _SLOT.size * _SLOTS
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._fd = fd
            self._map = mmap.mmap(fd, size)
        self._lock()
        try:
            instance, _ = _HEADER.unpack_from(self._map, 0)
            if not instance:  # the first worker of the host names it
                instance = int.from_bytes(secrets.token_bytes(8), "little") | 1
                _HEADER.pack_into(self._map, 0, instance, 0)
        finally:
            self._unlock()
        self.instance_id = f"{instance:016x}"
        self._offsets: dict[str, int] = {}  # key id -> its slot (a claimed slot never moves)

    # The lock is taken and released in each method, not through a context manager: on the
    # request path that costs a generator per call (about a microsecond, twice a request).
    def _lock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _slot(self, key_id: str, claim: bool = True) -> int:
        """Byte offset of this key's slot (claimed on first use; linear probing); -1 if absent."""
        offset = self._offsets.get(key_id)
        if offset is not None:
            return offset
        offset = self._find(key_id, claim)
        if offset >= 0:
            if len(self._offsets) >= _SLOTS:
                self._offsets.clear()
            self._offsets[key_id] = offset
        return offset

    def _find(self, key_id: str, claim: bool) -> int:
        wanted = key_hash(key_id)
        index = wanted % _SLOTS
        for _ in range(_SLOTS):
            offset = _HEADER.size + index * _SLOT.size
            found = _SLOT.unpack_from(self._map, offset)[0]
            if found == wanted:
                return offset
            if found == 0:
                if not claim:
                    return -1
                _SLOT.pack_into(self._map, offset, wanted, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                return offset
            index = (index + 1) % _SLOTS
        raise RuntimeError("rate-limit table is full")

    def admit(self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, now: float, instances: int = 1, outage: bool = False) -> tuple[Verdict | None, Verdict | None]:
        """Check both limits and take from both only when both allow (all or nothing).

        ``outage``: Redis is configured but not answering. The check then starts from the
        key's known shared state, each unit costs ``instances`` units (this host's share), and
        what is taken is kept as pending.
        """
        share = max(1, instances) if outage else 1
        self._lock()
        try:
            offset = self._slot(key_id)
            wanted, r_tat, t_tat, r_known, t_known, r_pending, t_pending = _SLOT.unpack_from(self._map, offset)
            if r_known or t_known:  # only with Redis: what it last said of the key
                r_tat, t_tat = max(r_tat, _sane(r_known, now)), max(t_tat, _sane(t_known, now))
            requests = check(r_tat, now, rpm / share, PERIOD_S, 1) if rpm else None
            token_verdict = check(t_tat, now, tpm / share, PERIOD_S, tokens) if tpm else None
            if (requests is None or requests.allowed) and (token_verdict is None or token_verdict.allowed):
                if outage:
                    self._count_pending(r_pending or t_pending, 1)
                    r_pending += 1 if rpm else 0
                    t_pending += tokens if tpm else 0
                new_r = requests.new_tat if requests else r_tat
                new_t = token_verdict.new_tat if token_verdict else t_tat
                _SLOT.pack_into(self._map, offset, wanted, new_r, new_t, r_known, t_known, r_pending, t_pending)
            return requests, token_verdict
        finally:
            self._unlock()

    def settle(self, key_id: str, tpm: int, delta: int, now: float, instances: int = 1, outage: bool = False) -> None:
        """The real token count is known: move the token TAT by the difference."""
        if not delta:
            return
        share = max(1, instances) if outage else 1
        self._lock()
        try:
            offset = self._slot(key_id)
            wanted, r_tat, t_tat, r_known, t_known, r_pending, t_pending = _SLOT.unpack_from(self._map, offset)
            t_tat = settle(max(t_tat, _sane(t_known, now)), now, tpm / share, PERIOD_S, delta)
            if outage:
                self._count_pending(r_pending or t_pending, 1)
                t_pending += delta
            _SLOT.pack_into(self._map, offset, wanted, r_tat, t_tat, r_known, t_known, r_pending, t_pending)
        finally:
            self._unlock()

    def learn(self, key_id: str, r_known: float, t_known: float) -> None:
        """After a Redis admission: the key's shared TATs as Redis reported them (absolute)."""
        self._lock()
        try:
            offset = self._slot(key_id) + 24
            old_r, _ = _KNOWN.unpack_from(self._map, offset)
            # A requests TAT only moves forward (another worker may have written a newer one).
            _KNOWN.pack_into(self._map, offset, max(old_r, r_known), t_known)
        finally:
            self._unlock()

    def take(self, key_id: str) -> Pending:
        """Before a Redis admission: the key's pending units, handed over (``give_back`` them
        if the admission fails). Costs one read of the header while nothing is pending."""
        if not _PENDING_SLOTS.unpack_from(self._map, 8)[0]:
            return NONE_PENDING
        offset = self._slot(key_id, claim=False)
        if offset < 0:
            return NONE_PENDING
        self._lock()
        try:
            wanted, r_tat, t_tat, r_known, t_known, r_pending, t_pending = _SLOT.unpack_from(self._map, offset)
            if not (r_pending or t_pending):
                return NONE_PENDING
            self._count_pending(False, -1)
            _SLOT.pack_into(self._map, offset, wanted, r_tat, t_tat, r_known, t_known, 0.0, 0.0)
        finally:
            self._unlock()
        return Pending(r_pending, t_pending)

    def give_back(self, key_id: str, taken: Pending) -> None:
        if not (taken.requests or taken.tokens):
            return
        self._lock()
        try:
            offset = self._slot(key_id)
            wanted, r_tat, t_tat, r_known, t_known, r_pending, t_pending = _SLOT.unpack_from(self._map, offset)
            self._count_pending(r_pending or t_pending, 1)
            _SLOT.pack_into(self._map, offset, wanted, r_tat, t_tat, r_known, t_known, r_pending + taken.requests, t_pending + taken.tokens)
        finally:
            self._unlock()

    def _count_pending(self, had: float | bool, change: int) -> None:
        """Keep the header's count of slots with pending units (under the lock)."""
        if change > 0 and had:
            return  # the slot was counted already
        count = _PENDING_SLOTS.unpack_from(self._map, 8)[0]
        _PENDING_SLOTS.pack_into(self._map, 8, max(0, count + change))

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sane(known: float, now: float) -> float:
    """A shared TAT from Redis, unless it is absurd (more than two periods ahead)."""
    return known if known <= now + 2 * PERIOD_S else now + 2 * PERIOD_S
