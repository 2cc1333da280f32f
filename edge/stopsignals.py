"""SIGTERM and SIGINT held blocked from the start of ``edge serve`` until a handler is in place.

A signal that a process blocks waits in the kernel (POSIX ``sigprocmask``): it is neither lost
nor acted on by the default action, and it is delivered the moment the process unblocks it. The
serve and worker commands block the two stop signals first thing; the worker unblocks them once
its event loop's handlers are installed (edge.serve), the supervisor once its own are
(edge.supervisor). Everything they start after that (threads, the ledger writer process,
workers) starts unblocked, so no child inherits the mask.
"""

from __future__ import annotations

import signal

__all__ = ["STOP_SIGNALS", "hold", "release"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def hold() -> None:
    """Block the stop signals in the calling (main) thread; a signal sent now waits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release() -> None:
    """Unblock them: one that came while they were held is delivered now, to the handler in place."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
