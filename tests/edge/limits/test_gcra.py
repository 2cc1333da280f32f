"""edge.limits.gcra: the arithmetic every rate-limit backend shares, with exact figures.

A limit of 5 per 60 s emits one unit every 12 s and allows a burst of all 5.
"""

from __future__ import annotations

import pytest

from edge.limits.gcra import check, settle

NOW = 1_000.0
LIMIT, PERIOD = 5, 60.0  # one unit every 12 s


def _take(count: int, now: float = NOW, tat: float = 0.0) -> tuple[float, list[tuple[bool, int, float]]]:
    seen = []
    for _ in range(count):
        verdict = check(tat, now, LIMIT, PERIOD, 1)
        seen.append((verdict.allowed, verdict.remaining, verdict.reset_s))
        tat = verdict.new_tat
    return tat, seen


def test_the_whole_limit_may_be_used_at_once_then_nothing() -> None:
    tat, seen = _take(5)
    assert seen == [(True, 4, 12.0), (True, 3, 24.0), (True, 2, 36.0), (True, 1, 48.0), (True, 0, 60.0)]
    assert tat == NOW + PERIOD
    refused = check(tat, NOW, LIMIT, PERIOD, 1)
    assert not refused.allowed
    assert refused.new_tat == tat  # a refusal takes nothing
    assert refused.retry_after_s == pytest.approx(12.0) and refused.remaining == 0 and refused.reset_s == pytest.approx(60.0)


def test_it_refills_one_unit_per_interval() -> None:
    tat, _ = _take(5)
    early = check(tat, NOW + 11.9, LIMIT, PERIOD, 1)
    assert not early.allowed and early.retry_after_s == pytest.approx(0.1)
    on_time = check(tat, NOW + 12.0, LIMIT, PERIOD, 1)
    assert on_time.allowed and on_time.remaining == 0
    assert not check(on_time.new_tat, NOW + 12.0, LIMIT, PERIOD, 1).allowed  # one unit, not two
    # After a whole period of quiet the burst is whole again.
    _, seen = _take(6, now=NOW + 60.0, tat=tat)
    assert [allowed for allowed, _, _ in seen] == [True] * 5 + [False]


def test_a_stale_tat_counts_as_now() -> None:
    verdict = check(NOW - 3600, NOW, LIMIT, PERIOD, 1)
    assert verdict.allowed and verdict.new_tat == NOW + 12.0 and verdict.remaining == 4


def test_cost_weighs_units() -> None:
    # Tokens: 100 per minute, one every 0.6 s.
    verdict = check(0.0, NOW, 100, PERIOD, 30)
    assert verdict.allowed and verdict.new_tat == pytest.approx(NOW + 18.0) and verdict.remaining == 70
    assert check(verdict.new_tat, NOW, 100, PERIOD, 70).allowed
    assert not check(verdict.new_tat, NOW, 100, PERIOD, 71).allowed
    assert check(0.0, NOW, 100, PERIOD, 100).allowed  # exactly the limit fits an empty bucket
    too_big = check(0.0, NOW, 100, PERIOD, 101)
    assert not too_big.allowed and too_big.retry_after_s == pytest.approx(0.6)


def test_settle_moves_the_tat_by_the_difference() -> None:
    tat = NOW + 60.0  # the whole limit used
    assert settle(tat, NOW, LIMIT, PERIOD, -2) == pytest.approx(NOW + 36.0)  # two units given back
    assert settle(tat, NOW, LIMIT, PERIOD, -10) == NOW  # never below now: no credit beyond a full bucket
    assert settle(tat, NOW, LIMIT, PERIOD, 1) == pytest.approx(NOW + 72.0)
    assert settle(NOW - 100, NOW, LIMIT, PERIOD, 1) == pytest.approx(NOW + 12.0)  # from now when stale


@pytest.mark.parametrize("limit", [50, 60, 1000, 7])
def test_a_whole_burst_fits_at_unix_time_magnitudes(limit: int) -> None:
    # Found by this suite: one ulp of the TAT here is ~2.4e-7 s, and a same-instant burst of
    # 50 per minute was granted 49 under the old 1e-9 s tolerance.
    now, tat, allowed, remaining = 1_700_000_000.0, 0.0, 0, []
    for _ in range(limit + 1):
        verdict = check(tat, now, limit, PERIOD, 1)
        if verdict.allowed:
            allowed, tat = allowed + 1, verdict.new_tat
            remaining.append(verdict.remaining)
    assert allowed == limit
    assert remaining == list(range(limit - 1, -1, -1))
    assert not check(tat, now + PERIOD / limit * 0.99, limit, PERIOD, 1).allowed  # no unit early
