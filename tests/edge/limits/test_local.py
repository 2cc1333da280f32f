"""edge.limits.local: the host's rate-limit table, exact across processes that share its file."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

from edge.limits.local import PERIOD_S, LocalLimiter

NOW = 1_700_000_000.0


def test_requests_per_minute_for_one_key_and_keys_apart() -> None:
    limiter = LocalLimiter()
    try:
        verdicts = [limiter.admit("k1", 3, None, 0, NOW)[0] for _ in range(4)]
        assert [v.allowed for v in verdicts] == [True, True, True, False]  # type: ignore[union-attr]
        assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]  # type: ignore[union-attr]
        assert verdicts[3].retry_after_s == PERIOD_S / 3  # type: ignore[union-attr]
        assert limiter.admit("k2", 3, None, 0, NOW)[0].allowed  # type: ignore[union-attr]
        assert limiter.admit("k1", 3, None, 0, NOW + PERIOD_S / 3)[0].allowed  # type: ignore[union-attr]
    finally:
        limiter.close()


def test_a_limit_not_set_gives_no_verdict() -> None:
    limiter = LocalLimiter()
    try:
        assert limiter.admit("k", None, None, 10, NOW) == (None, None)
        requests, tokens = limiter.admit("k", None, 100, 10, NOW)
        assert requests is None and tokens is not None and tokens.remaining == 90
    finally:
        limiter.close()


def test_both_limits_take_all_or_nothing() -> None:
    limiter = LocalLimiter()
    try:
        requests, tokens = limiter.admit("k", 10, 100, 150, NOW)
        assert requests is not None and requests.allowed and tokens is not None and not tokens.allowed
        # The refused call took no request either: the next one still sees 9 left after it.
        requests, tokens = limiter.admit("k", 10, 100, 10, NOW)
        assert requests.remaining == 9 and tokens.remaining == 90  # type: ignore[union-attr]
    finally:
        limiter.close()


def test_settle_gives_back_what_the_estimate_overcharged() -> None:
    limiter = LocalLimiter()
    try:
        assert limiter.admit("k", None, 100, 80, NOW)[1].allowed  # type: ignore[union-attr]
        assert not limiter.admit("k", None, 100, 70, NOW)[1].allowed  # type: ignore[union-attr]
        limiter.settle("k", 100, -60, NOW)  # the answer used 20, not 80
        assert limiter.admit("k", None, 100, 70, NOW)[1].allowed  # type: ignore[union-attr]
        limiter.settle("k", 100, 30, NOW)  # and an underestimate is charged on
        assert not limiter.admit("k", None, 100, 1, NOW)[1].allowed  # type: ignore[union-attr]
    finally:
        limiter.close()


def test_a_thousand_keys_each_keep_their_own_slot() -> None:
    limiter = LocalLimiter()
    try:
        keys = [f"key-{i}" for i in range(1000)]
        assert all(limiter.admit(k, 1, None, 0, NOW)[0].allowed for k in keys)  # type: ignore[union-attr]
        assert not any(limiter.admit(k, 1, None, 0, NOW)[0].allowed for k in keys)  # type: ignore[union-attr]
    finally:
        limiter.close()


def test_two_tables_on_one_file_share_the_limit(tmp_path: Path) -> None:
    first, second = LocalLimiter(tmp_path / "ratelimits.bin"), LocalLimiter(tmp_path / "ratelimits.bin")
    try:
        assert first.admit("k", 3, None, 0, NOW)[0].allowed  # type: ignore[union-attr]
        assert second.admit("k", 3, None, 0, NOW)[0].allowed  # type: ignore[union-attr]
        assert first.admit("k", 3, None, 0, NOW)[0].allowed  # type: ignore[union-attr]
        assert not second.admit("k", 3, None, 0, NOW)[0].allowed  # type: ignore[union-attr]
    finally:
        first.close()
        second.close()


# One instant for every racer, and a limit whose interval (60 s / 15360 = 2**-8 s) adds up
# exactly, so float rounding of the TAT cannot cost a unit (at Unix-time magnitudes it can: see
# test_gcra's xfail). Enough tries that the racers overlap for a good while.
RACE_NOW = 1_000.0
RACE_LIMIT, RACERS, TRIES = 15_360, 4, 5_000


def _hammer(path: str, go: "multiprocessing.synchronize.Event", results: "multiprocessing.Queue[int]") -> None:
    limiter = LocalLimiter(Path(path))
    go.wait(60)
    allowed = sum(bool(limiter.admit("shared", RACE_LIMIT, None, 0, RACE_NOW)[0].allowed) for _ in range(TRIES))  # type: ignore[union-attr]
    limiter.close()
    results.put(allowed)


def test_processes_racing_for_the_last_units_never_overshoot(tmp_path: Path) -> None:
    """Like the workers of one host: four processes, started together, ask 5,000 times each for
    a limit of 15,360; the file lock makes each check-and-take atomic, so exactly that many pass."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    go = context.Event()
    procs = [context.Process(target=_hammer, args=(str(tmp_path / "ratelimits.bin"), go, results)) for _ in range(RACERS)]
    for proc in procs:
        proc.start()
    go.set()
    counts = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert sum(counts) == RACE_LIMIT
    assert sum(1 for c in counts if c) > 1, f"the racers did not overlap: {counts}"
