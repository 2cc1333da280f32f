"""Request ids: unique across workers, hosts and restarts, without a system call per request.

Each worker draws a random 64-bit prefix once and counts from there, so an id costs a string
format instead of a ``getrandom`` call (bench/PROFILE.md). The counter says how many requests
that worker saw; request ids are for correlation, not secrets.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["RequestIds"]


class RequestIds:
    """``new()`` -> ``req_`` and 24 hex digits, the length the ids always had."""

    def __init__(self) -> None:
        self._prefix = "req_" + os.urandom(8).hex()
        self._next = itertools.count(1).__next__

    def new(self) -> str:
        return f"{self._prefix}{self._next() & 0xFFFFFFFF:08x}"
