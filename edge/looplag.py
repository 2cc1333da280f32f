"""Event-loop lag: how late the worker's loop runs a timer, and how much of that it was busy.

A task wakes every ``INTERVAL_S`` and records how much later than asked it woke, twice, in
``edge_event_loop_lag_seconds``: ``kind="wall"`` is the plain lateness (it also counts time
the process waited for a core, which on a loaded host is not the gateway's doing);
``kind="held"`` is the part the worker's own thread spent on CPU meanwhile, ``min(lag, CPU
time of the loop thread since the last wake)``. A callback that holds the loop for 150 ms
(parsing a huge upstream body in one go, say) shows as 150 ms in both; a process that the
kernel left off the CPU for 150 ms shows in ``wall`` only. Over 100 ms ``held`` is a stall that
every other request on the worker waited through (issue 16's "worker stalls").

Cost: one wake-up, two ``thread_time`` calls and two histogram observations 20 times a second.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .tasks import stop_task

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = ["INTERVAL_S", "LoopLag"]

INTERVAL_S = 0.05


class LoopLag:
    """Started in the worker's loop (``start``), stopped with it (``close``)."""

    def __init__(self, metrics: Metrics, interval_s: float = INTERVAL_S) -> None:
        self._metrics = metrics
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="edge-loop-lag")

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval, observe = self._interval, self._metrics.loop_lag
        cpu = time.thread_time()
        while True:
            asked = loop.time() + interval
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - asked)
            now_cpu = time.thread_time()
            observe(lag, min(lag, now_cpu - cpu))
            cpu = now_cpu
