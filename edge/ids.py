"""Request and response ids: unique across workers, hosts and restarts, without a system call each.

Each worker draws a random 64-bit prefix once and counts from there, so an id costs a string
format instead of a ``getrandom`` call (bench/PROFILE.md). The counter says how many requests
that worker saw; request ids are for correlation, not secrets. Response ids (the Responses
API's ``resp_``) open with the time, so the response store's index grows at its end instead of
at a random page per row (a stored response is read only with the key that made it: its id is
a name, not a secret).
"""

from __future__ import annotations

import itertools
import os
import time

__all__ = ["RequestIds"]


class RequestIds:
    """``new()`` -> ``req_`` and 24 hex digits, the length the ids always had."""

    def __init__(self) -> None:
        self._worker = os.urandom(8).hex()
        self._prefix = "req_" + self._worker
        self._next = itertools.count(1).__next__

    def new(self) -> str:
        return f"{self._prefix}{self._next() & 0xFFFFFFFF:08x}"

    def stored(self, prefix: str) -> str:
        """``prefix`` + 40 hex digits, as OpenAI's ids: the time in seconds, this worker's
        prefix and its count."""
        return f"{prefix}{int(time.time()) & 0xFFFFFFFF:08x}{self._worker}{self._next():016x}"
