"""The cyclic garbage collector, set for a worker that serves for days: what start-up built is
frozen, and a young collection waits for 10,000 new objects instead of CPython's 700.

Measured under load (bench/README.md, "The garbage collector"): with CPython's defaults a worker
at 32 connections ran a young collection every ~20 requests, only because the objects of the
requests in flight count as new until they are freed, and a full collection every ~0.4 s
that walked every object start-up made (~50,000: config, routes, compiled schemas, the
imported modules' own) for ~17 ms with the loop stopped: 11 us of CPU per request and a
stall in the p99. Requests free what they make by reference counting (a run of 80,000
requests never reached 5,000 new objects), so the wait costs no memory there; garbage that
does form cycles (an exception with its traceback) is still collected, after at most 10,000
such objects rather than 700.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_collector"]

YOUNG_THRESHOLD = 10_000


def settle_collector() -> None:
    """Once start-up is done: collect its garbage, freeze what stays (the permanent generation,
    never walked again), and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
