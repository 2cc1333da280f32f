"""A deadline on the running task: ``asyncio.timeout`` for a loop the caller already holds.

``async with Deadline(loop, seconds):`` cancels the task when ``seconds`` have passed and turns
that cancellation into TimeoutError at the block's end, as ``asyncio.timeout`` does (a
cancellation from anywhere else passes through unchanged, and ``expired()`` tells the two
apart). It exists because on CPython 3.11 ``asyncio.timeout`` asks for the running loop twice
and the current task once, and each of those is a getpid() system call: three per stream
relayed. Given the loop, the task is found without one. One timer, armed on entry and cancelled
on exit; none for an infinite ``seconds``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Deadline"]


class Deadline:
    """The running task cancelled after ``seconds`` (see the module docstring)."""

    __slots__ = ("_loop", "_seconds", "_task", "_handle", "_expired", "_cancelling")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.Handle | None = None
        self._expired = False
        self._cancelling = 0

    def expired(self) -> bool:
        """Whether the deadline passed and cancelled the task."""
        return self._expired

    async def __aenter__(self) -> Deadline:
        task = asyncio.current_task(self._loop)  # with the loop given: no getpid()
        if task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        seconds, loop = self._seconds, self._loop
        if seconds <= 0:
            self._handle = loop.call_soon(self._fire)
        elif seconds != float("inf"):  # no deadline: no timer
            self._handle = loop.call_later(seconds, self._fire)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._expired and self._task is not None:
            # Ours was the cancellation: take it back; TimeoutError only when no other is
            # pending (a client gone at the same moment stays a cancellation).
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def _fire(self) -> None:
        self._handle = None
        if self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()
