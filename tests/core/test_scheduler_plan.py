"""The scheduler's pure decisions (jobd_core._plan): no clock, no trio, just (schedule, now)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from jobd_core._plan import (
    Missed,
    first_fire,
    latest_not_after,
    plan_due,
    plan_startup,
)
from jobd_core.schedule import parse

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
S = timedelta(seconds=1)
EVERY_SECOND = parse("* * * * * ? *", default_tz=UTC, now=T0)
EVERY_5S = parse("0/5 * * * * ? *", default_tz=UTC, now=T0)
HOURLY = parse("0 * * * *", default_tz=UTC, now=T0)


def test_missed_describe() -> None:
    assert Missed(1).describe() == "1 run"
    assert Missed(3).describe() == "3 runs"
    assert Missed(100, at_least=True).describe() == "at least 100 runs"
    assert not Missed()


def test_first_fire_is_after_now_and_watermark() -> None:
    assert first_fire(EVERY_5S, T0 + 0.5 * S, None) == T0 + 5 * S
    assert first_fire(EVERY_SECOND, T0 + 0.5 * S, None) == T0 + S  # not the second containing now
    # the wall clock went back an hour: nothing up to the watermark fires again
    assert first_fire(EVERY_5S, T0 - 3600 * S, T0) == T0 + 5 * S


def test_on_time_runs_and_next_is_after_the_instant_not_now() -> None:
    plan = plan_due(EVERY_5S, T0, T0 + 0.01 * S)
    assert (plan.run, plan.missed, plan.watermark, plan.next_fire) == (T0, Missed(), T0, T0 + 5 * S)
    # slightly late (within tolerance): still runs, next is after T0
    plan = plan_due(EVERY_5S, T0, T0 + 1.5 * S)
    assert plan.run == T0 and plan.next_fire == T0 + 5 * S and not plan.missed


def test_late_beyond_tolerance_is_missed_not_run() -> None:
    plan = plan_due(EVERY_5S, T0, T0 + 3 * S)
    assert plan.run is None and plan.missed == Missed(1)
    assert plan.watermark == T0 and plan.next_fire == T0 + 5 * S


def test_forward_jump_counts_once_and_runs_only_the_latest_on_time() -> None:
    # every second, the clock jumped 10 minutes ahead; the latest instant is 0.3 s old
    now = T0 + 600.3 * S
    plan = plan_due(EVERY_SECOND, T0, now, cap=1000)
    assert plan.run == T0 + 600 * S
    assert plan.missed == Missed(600)
    assert plan.next_fire == T0 + 601 * S
    # every 5 s, the latest instant is 2.3 s old: nothing runs, all missed
    plan = plan_due(EVERY_5S, T0, T0 + 602.3 * S, cap=1000)
    assert plan.run is None and plan.missed == Missed(121)
    assert plan.watermark == T0 + 600 * S and plan.next_fire == T0 + 605 * S


def test_counting_is_capped_and_fast() -> None:
    now = T0 + timedelta(days=365, seconds=0.5)
    started = time.perf_counter()
    plan = plan_due(EVERY_SECOND, T0, now, cap=100)
    assert time.perf_counter() - started < 2
    assert plan.missed == Missed(100, at_least=True)
    assert plan.run == T0 + timedelta(days=365)  # the latest, found by binary search
    assert plan.next_fire == T0 + timedelta(days=365, seconds=1)


def test_latest_not_after() -> None:
    assert latest_not_after(HOURLY, T0, T0 + 3599 * S) is None
    assert latest_not_after(HOURLY, T0, T0 + 3600 * S) == T0 + 3600 * S
    assert latest_not_after(HOURLY, T0, T0 + timedelta(days=40, minutes=5)) == T0 + timedelta(
        days=40
    )
    assert latest_not_after(EVERY_5S, T0 - 7 * S, T0 + 4.9 * S) == T0


def test_startup_without_watermark_misses_nothing() -> None:
    plan = plan_startup(HOURLY, None, T0 + 10 * S)
    assert not plan.missed and plan.run is None and plan.next_fire == T0 + 3600 * S


def test_startup_after_downtime_catchup_off_and_latest() -> None:
    now = T0 + timedelta(hours=5, minutes=30)
    off = plan_startup(HOURLY, T0, now)
    assert off.missed == Missed(5) and off.run is None
    assert off.watermark == T0 + timedelta(hours=5)
    assert off.next_fire == T0 + timedelta(hours=6)
    latest = plan_startup(HOURLY, T0, now, catchup="latest")
    assert latest.run == T0 + timedelta(hours=5) and latest.missed == Missed(4)
    assert latest.next_fire == T0 + timedelta(hours=6)


def test_startup_quick_restart_runs_the_instant_just_passed() -> None:
    plan = plan_startup(HOURLY, T0, T0 + timedelta(hours=1, seconds=1))
    assert plan.run == T0 + timedelta(hours=1) and not plan.missed


def test_startup_nothing_missed_and_clock_behind_watermark() -> None:
    plan = plan_startup(HOURLY, T0, T0 + 100 * S)
    assert not plan.missed and plan.run is None and plan.next_fire == T0 + 3600 * S
    # the clock went back (at least) 3 h while down: the hourly job's timeline steps back with
    # it (_plan rule 5), it does not go silent for 4 h; 30 min back: T0 does not repeat
    plan = plan_startup(HOURLY, T0, T0 - timedelta(hours=3))
    assert not plan.missed and plan.next_fire == T0 - 2 * 3600 * S
    plan = plan_startup(HOURLY, T0, T0 - timedelta(minutes=30))
    assert not plan.missed and plan.next_fire == T0 + 3600 * S


def test_startup_year_of_every_second_is_bounded() -> None:
    now = T0 + timedelta(days=365, seconds=10.5)
    started = time.perf_counter()
    plan = plan_startup(EVERY_SECOND, T0, now, catchup="latest")
    assert time.perf_counter() - started < 2
    assert plan.missed.at_least and plan.missed.count == 100
    assert plan.run == T0 + timedelta(days=365, seconds=10)


def test_latest_not_after_in_a_repeated_hour_counts_real_time() -> None:
    # New York falls back on 2026-11-01: 01:00-02:00 happens twice (EDT, then EST). From 01:10 EDT
    # (05:10 UTC) to 01:50 EST (06:50 UTC) is 100 real minutes but 40 wall-clock minutes; the latest
    # minute instant is 06:50 UTC, not the first-pass 01:50 EDT.
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    every_minute = parse("* * * * *", default_tz=ny, now=T0)
    after = datetime(2026, 11, 1, 5, 10, tzinfo=UTC).astimezone(ny)
    now = datetime(2026, 11, 1, 6, 50, tzinfo=UTC).astimezone(ny)
    latest = latest_not_after(every_minute, after, now)
    assert latest is not None
    assert latest.astimezone(UTC) == datetime(2026, 11, 1, 6, 50, tzinfo=UTC)
