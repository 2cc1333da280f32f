"""Background tasks the gateway runs beside requests (key reloads, ledger flushes, budgets)."""

from __future__ import annotations

import asyncio

__all__ = ["stop_task"]


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a background loop and wait until it has stopped.

    The cancellation is sent again until the task ends. On Python 3.11 ``asyncio.wait_for``
    returns the inner result instead of raising when a cancellation arrives in the same turn as
    that result (bpo-42130; 3.12 rebuilt wait_for on asyncio.timeout, gh-96764), so a loop
    around wait_for can swallow one cancellation and run on: a single cancel() then waited
    forever, and the worker never exited on SIGTERM (its supervisor killed it).
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if not task.cancelled():
        task.result()  # an error the loop died of is the caller's to see
