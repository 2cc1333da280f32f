"""edge.deadline.Deadline behaves as asyncio.timeout on a loop the caller holds."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from edge.deadline import Deadline


async def _sleep_under(deadline: Deadline) -> None:
    async with deadline:
        await asyncio.sleep(5)


def _run(coro_fn) -> object:  # type: ignore[no-untyped-def]
    return uvloop.run(coro_fn())


def test_the_deadline_turns_its_cancellation_into_timeout_error() -> None:
    async def go() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = Deadline(loop, 0.05)
        with pytest.raises(TimeoutError):
            async with deadline:
                await asyncio.sleep(5)
        return deadline.expired(), loop.time() - started

    expired, took = _run(go)  # type: ignore[misc]
    assert expired and 0.04 <= took < 1


def test_a_block_that_finishes_in_time_is_left_alone_and_its_timer_cancelled() -> None:
    async def go() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop, 0.05)
        async with deadline:
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)  # past the deadline: the timer must not fire into this task
        task = asyncio.current_task()
        assert task is not None
        return deadline.expired(), task.cancelling()

    assert _run(go) == (False, 0)


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def go() -> bool:
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop, 5)
        task = loop.create_task(_sleep_under(deadline))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return deadline.expired()

    assert _run(go) is False


def test_a_client_gone_as_the_deadline_passes_stays_a_cancellation() -> None:
    # Both cancellations pending at once: the outer one must not be swallowed as a timeout.
    async def go() -> None:
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop, 0)  # fires on the next turn
        task = loop.create_task(_sleep_under(deadline))
        await asyncio.sleep(0)  # the task enters the block and arms the deadline
        loop.call_soon(task.cancel)  # in the same turn as the deadline fires
        with pytest.raises(asyncio.CancelledError):
            await task

    _run(go)


def test_no_deadline_arms_no_timer_and_a_passed_one_fires_at_once() -> None:
    async def go() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        endless = Deadline(loop, float("inf"))
        async with endless:
            await asyncio.sleep(0.01)
        passed = Deadline(loop, -1.0)
        with pytest.raises(TimeoutError):
            async with passed:
                await asyncio.sleep(5)
        return endless.expired(), passed.expired()

    assert _run(go) == (False, True)

