"""The wall clocks: MockWallClock follows trio's mock clock, jumps, and sleep_until re-checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from jobd_core._clock import (
    MockWallClock,
    SystemClock,
    datetime_from_ns,
    ns_from_datetime,
)

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_ns_round_trip_is_exact() -> None:
    at = datetime(2014, 2, 11, 15, 42, 35, 4655, tzinfo=UTC)
    assert ns_from_datetime(at) == 1392133355_004655_000
    assert datetime_from_ns(ns_from_datetime(at)) == at
    with pytest.raises(ValueError):
        ns_from_datetime(datetime(2014, 1, 1))


async def test_mock_wall_clock_follows_trio_time(autojump_clock: trio.testing.MockClock) -> None:
    clock = MockWallClock(START)
    assert clock.now() == START
    await trio.sleep(90)
    assert clock.now() == START + timedelta(seconds=90)
    assert clock.now().tzinfo is UTC


async def test_sleep_until_wakes_at_the_wall_time(autojump_clock: trio.testing.MockClock) -> None:
    clock = MockWallClock(START)
    t0 = trio.current_time()
    await clock.sleep_until(START + timedelta(seconds=3600))
    assert clock.now() == START + timedelta(seconds=3600)
    assert trio.current_time() - t0 == pytest.approx(3600)
    await clock.sleep_until(START)  # past: returns at once
    assert clock.now() == START + timedelta(seconds=3600)


async def test_forward_jump_noticed_within_recheck(autojump_clock: trio.testing.MockClock) -> None:
    clock = MockWallClock(START, recheck_interval=60)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep_until(START + timedelta(hours=2))
        woke.append(trio.current_time())

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper)
        await trio.sleep(10)
        clock.jump(timedelta(hours=3))
    assert woke and woke[0] - t0 <= 60 + 1e-6


async def test_backward_jump_ends_the_sleep_early(autojump_clock: trio.testing.MockClock) -> None:
    # the caller's plan is stale after a step back: sleep_until returns at the next re-check
    # (the slice running at the jump: 60 s) so the scheduler can re-plan (_clock rule 4)
    clock = MockWallClock(START, recheck_interval=60)
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(clock.sleep_until, START + timedelta(seconds=100))
        await trio.sleep(50)
        clock.jump(timedelta(seconds=-1000))
    assert clock.now() < START + timedelta(seconds=100)
    assert trio.current_time() - t0 == pytest.approx(60, abs=1e-3)


async def test_set_and_cancel(autojump_clock: trio.testing.MockClock) -> None:
    clock = MockWallClock(START)
    clock.set(START - timedelta(days=1))
    assert clock.now() == START - timedelta(days=1)
    with trio.move_on_after(5) as scope:
        await clock.sleep_until(START)
    assert scope.cancelled_caught


async def test_system_clock_is_utc_and_sleeps() -> None:
    clock = SystemClock(recheck_interval=0.01)
    before = clock.now()
    assert before.tzinfo is UTC
    await clock.sleep_until(before + timedelta(milliseconds=30))
    assert clock.now() >= before + timedelta(milliseconds=30)
