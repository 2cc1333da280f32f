"""The order in which a public model's routes are tried.

weighted: the first drawn by weight, then the rest by weight (weight 0: only after the others).
least_busy: fewest requests in flight first (ties in random order).
latency: power of two choices over a peak-EWMA of latency (Mitzenmacher; Finagle's P2C): two
routes drawn at random, the cheaper (latency x queue) first, then the rest by the same cost.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["order"]

T = TypeVar("T")


def order(items: Sequence[T], strategy: str, weight: Callable[[T], float], busy: Callable[[T], int], cost: Callable[[T], float], rng: random.Random) -> list[T]:
    if len(items) < 2:
        return list(items)
    if strategy == "least_busy":
        shuffled = list(items)
        rng.shuffle(shuffled)
        return sorted(shuffled, key=busy)
    if strategy == "latency":
        first, second = rng.sample(range(len(items)), 2)
        best = items[first] if cost(items[first]) <= cost(items[second]) else items[second]
        rest = sorted((t for t in items if t is not best), key=cost)
        return [best, *rest]
    return _weighted(items, weight, rng)


def _weighted(items: Sequence[T], weight: Callable[[T], float], rng: random.Random) -> list[T]:
    pool = list(items)
    out: list[T] = []
    while pool:
        weights = [max(0.0, weight(t)) for t in pool]
        total = sum(weights)
        if total <= 0:
            out.extend(pool)  # all remaining are weight 0: keep config order
            break
        pick = rng.random() * total
        for index, w in enumerate(weights):
            pick -= w
            if pick < 0:
                break
        out.append(pool.pop(index))
    return out
