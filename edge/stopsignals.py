"""SIGTERM and SIGINT held blocked from the start of ``edge serve`` until a handler is in place.

A signal that a process blocks waits in the kernel (POSIX ``sigprocmask``): it is neither lost
nor acted on by the default action, and it is delivered the moment the process unblocks it. The
serve and worker commands block the two stop signals first thing; the worker unblocks them once
its event loop's handlers are installed (edge.serve), the supervisor once its own are
(edge.supervisor). Everything they start after that (threads, the ledger writer process,
workers) starts unblocked, so no child inherits the mask.

Once serving, a worker's loop hears a stop signal through its wake-up fd (uvloop reads the
signal number CPython writes there). One worker that had served for a while did not: it stayed
up, listening, after its first SIGTERM and drained at once on a second one, though it blocked
no signal and had its handler in place. ``StopSignals`` therefore hears the signal twice: through
the loop's handler, and through a Python-level handler that only records it, read by a timer a
few times a second. Whichever comes first stops the worker; the timer's path also logs a warning,
so a lost wake-up shows in the log instead of as a worker that will not stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

__all__ = ["STOP_SIGNALS", "StopSignals", "hold", "release"]

log = logging.getLogger("edge")

CHECK_S = 0.25  # how often the timer reads the recorded signal (a lost wake-up costs up to 2x this)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def hold() -> None:
    """Block the stop signals in the calling (main) thread; a signal sent now waits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release() -> None:
    """Unblock them: one that came while they were held is delivered now, to the handler in place."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class StopSignals:
    """Set ``stop`` on SIGTERM or SIGINT, even when the loop's wake-up fd misses the signal.

    The loop's handler (``add_signal_handler``) is the fast path. The Python-level handler put in
    place over the loop's only records the signal: CPython runs it in the main thread at the next
    bytecode, which the check timer guarantees. A recorded signal still unheard by the loop at two
    checks in a row (one check may fall between the two paths of a signal heard normally) sets
    ``stop`` from the timer.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self._loop = loop
        self._stop = stop
        self._recorded = 0  # the last stop signal CPython handed to Python code, 0 for none
        self._checks_unheard = 0
        self._timer: asyncio.TimerHandle | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._stop.set)
            # Over the loop's own Python-level handler: the loop dispatches on the signal number
            # its wake-up fd receives, not on this handler, so its fast path is unchanged.
            signal.signal(sig, self._record)
        self._timer = self._loop.call_later(CHECK_S, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._recorded = signum

    def _check(self) -> None:
        self._timer = None
        if self._stop.is_set():
            return
        if not self._recorded:
            self._checks_unheard = 0
        elif self._checks_unheard:
            log.warning(
                "%s reached this worker but not its event loop's wake-up; stopping anyway",
                signal.Signals(self._recorded).name,
            )
            self._stop.set()
            return
        else:
            self._checks_unheard = 1
        self._timer = self._loop.call_later(CHECK_S, self._check)
