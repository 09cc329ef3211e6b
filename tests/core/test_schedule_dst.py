"""DST policy ("no double runs, no lost day"), tested in named zones.

- A schedule whose hour field covers all 24 hours follows real time: wall times in a spring-forward
  gap do not exist and are skipped; wall times in a fall-back repeat fire at both instants.
- Any other schedule fires once per matching wall time: a time in the gap fires at the first instant
  after it (the transition, e.g. 03:00 in New York); a repeated time fires at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobd_core.schedule import parse

UTC = dt.UTC


def fires(expression: str, zone: str, start: dt.datetime, n: int = 4) -> list[str]:
    tz = ZoneInfo(zone)
    aware = start.replace(tzinfo=tz) if start.tzinfo is None else start
    schedule = parse(expression, default_tz=tz, now=aware)
    return [t.strftime("%m-%d %H:%M%z") for t in itertools.islice(schedule.iter_after(aware), n)]


NY, BERLIN = "America/New_York", "Europe/Berlin"

CASES = [
    # New York 2026-03-08: 02:00 EST -> 03:00 EDT
    ("30 2 * * *", NY, dt.datetime(2026, 3, 7, 12), ["03-08 03:00-0400", "03-09 02:30-0400"]),
    ("0 2 * * *", NY, dt.datetime(2026, 3, 7, 12), ["03-08 03:00-0400", "03-09 02:00-0400"]),
    ("* 2 * * *", NY, dt.datetime(2026, 3, 7, 12), ["03-08 03:00-0400", "03-09 02:00-0400"]),
    ("0 3 * * *", NY, dt.datetime(2026, 3, 7, 12), ["03-08 03:00-0400", "03-09 03:00-0400"]),
    (
        "0 * * * *",
        NY,
        dt.datetime(2026, 3, 8, 0, 30),
        ["03-08 01:00-0500", "03-08 03:00-0400", "03-08 04:00-0400"],
    ),
    (
        "*/30 * * * *",
        NY,
        dt.datetime(2026, 3, 8, 0, 50),
        ["03-08 01:00-0500", "03-08 01:30-0500", "03-08 03:00-0400", "03-08 03:30-0400"],
    ),
    # New York 2026-11-01: 02:00 EDT -> 01:00 EST (01:00-01:59 happens twice)
    ("30 1 * * *", NY, dt.datetime(2026, 10, 31, 12), ["11-01 01:30-0400", "11-02 01:30-0500"]),
    ("30 2 * * *", NY, dt.datetime(2026, 10, 31, 12), ["11-01 02:30-0500", "11-02 02:30-0500"]),
    (
        "0 * * * *",
        NY,
        dt.datetime(2026, 11, 1, 0, 30),
        ["11-01 01:00-0400", "11-01 01:00-0500", "11-01 02:00-0500", "11-01 03:00-0500"],
    ),
    (
        "*/20 * * * *",
        NY,
        dt.datetime(2026, 11, 1, 0, 50),
        [
            "11-01 01:00-0400",
            "11-01 01:20-0400",
            "11-01 01:40-0400",
            "11-01 01:00-0500",
            "11-01 01:20-0500",
            "11-01 01:40-0500",
            "11-01 02:00-0500",
        ],
    ),
    # start inside the repeated hour, first and second occurrence
    (
        "*/20 * * * *",
        NY,
        dt.datetime(2026, 11, 1, 1, 30),
        ["11-01 01:40-0400", "11-01 01:00-0500", "11-01 01:20-0500"],
    ),
    (
        "*/20 * * * *",
        NY,
        dt.datetime(2026, 11, 1, 1, 10, fold=1),
        ["11-01 01:20-0500", "11-01 01:40-0500", "11-01 02:00-0500"],
    ),
    ("30 1 * * *", NY, dt.datetime(2026, 11, 1, 1, 10, fold=1), ["11-02 01:30-0500"]),
    ("30 1 * * *", NY, dt.datetime(2026, 11, 1, 1, 45), ["11-02 01:30-0500"]),
    # Berlin 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET
    ("30 2 * * *", BERLIN, dt.datetime(2026, 3, 28, 12), ["03-29 03:00+0200", "03-30 02:30+0200"]),
    ("30 2 * * *", BERLIN, dt.datetime(2026, 10, 24, 12), ["10-25 02:30+0200", "10-26 02:30+0100"]),
    (
        "0 * * * *",
        BERLIN,
        dt.datetime(2026, 10, 25, 0, 30),
        ["10-25 01:00+0200", "10-25 02:00+0200", "10-25 02:00+0100", "10-25 03:00+0100"],
    ),
    (
        "TZ=Europe/Berlin 30 2 * * *",
        NY,
        dt.datetime(2026, 3, 28, 12, tzinfo=UTC),
        ["03-29 03:00+0200", "03-30 02:30+0200"],
    ),
    # Lord Howe: a 30-minute shift (02:00 -> 02:30 on 2026-10-04)
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        dt.datetime(2026, 10, 3, 12),
        ["10-04 02:30+1100", "10-05 02:15+1100"],
    ),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        dt.datetime(2026, 10, 4, 1, 40),
        ["10-04 01:45+1030", "10-04 02:30+1100", "10-04 02:45+1100"],
    ),
    # Havana: the gap is at midnight (00:00 -> 01:00 on 2026-03-08): the daily run is not lost
    (
        "0 0 * * *",
        "America/Havana",
        dt.datetime(2026, 3, 7, 12),
        ["03-08 01:00-0400", "03-09 00:00-0400"],
    ),
    (
        "0 * * * *",
        "America/Havana",
        dt.datetime(2026, 3, 7, 22, 30),
        ["03-07 23:00-0500", "03-08 01:00-0400", "03-08 02:00-0400"],
    ),
]


@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"), CASES, ids=[f"{c[0]}@{c[1]}" for c in CASES]
)
def test_dst_table(expression: str, zone: str, start: dt.datetime, expected: list[str]) -> None:
    assert fires(expression, zone, start, n=len(expected)) == expected


@pytest.mark.parametrize(
    "zone", [NY, BERLIN, "Australia/Lord_Howe", "America/Havana", "Australia/Sydney"]
)
@pytest.mark.parametrize("wall", ["00:00", "00:30", "01:30", "02:00", "02:30", "03:00"])
def test_daily_job_fires_once_every_local_day(zone: str, wall: str) -> None:
    hour, minute = wall.split(":")
    tz = ZoneInfo(zone)
    start = dt.datetime(2026, 1, 1, tzinfo=tz) - dt.timedelta(seconds=1)
    schedule = parse(f"{int(minute)} {int(hour)} * * *", default_tz=tz, now=start)
    times = list(itertools.takewhile(lambda t: t.year == 2026, schedule.iter_after(start)))
    assert [t.date() for t in times] == [
        dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)
    ]


@pytest.mark.parametrize("zone", [NY, BERLIN, "Australia/Lord_Howe", "America/Havana"])
@pytest.mark.parametrize(("expression", "step"), [("0 * * * *", 3600), ("*/10 * * * *", 600)])
@pytest.mark.parametrize("window", [(3, 1, 4, 10), (9, 25, 11, 5)])  # both transitions of 2026
def test_periodic_jobs_keep_real_time_spacing(
    zone: str, expression: str, step: int, window: tuple[int, int, int, int]
) -> None:
    tz = ZoneInfo(zone)
    start = dt.datetime(2026, window[0], window[1], tzinfo=tz)
    end = dt.datetime(2026, window[2], window[3], tzinfo=tz)
    schedule = parse(expression, default_tz=tz, now=start)
    times = list(itertools.takewhile(lambda t: t < end, schedule.iter_after(start)))
    # same-zone datetime subtraction is wall-clock arithmetic in Python: compare in UTC
    real = [t.astimezone(UTC) for t in times]
    gaps = {int((b - a).total_seconds()) for a, b in itertools.pairwise(real)}
    if zone == "Australia/Lord_Howe" and step == 3600:
        # a 30-minute shift: the whole-hour wall time lands half an hour early or late once
        assert gaps == {3600, 5400}
    else:
        assert gaps == {step}
    assert len(real) >= 30 * 86400 // step


# 16-hour windows around transitions: New York and Havana fall back on 2026-11-01 (05:00 UTC),
# spring forward on 2026-03-08; Lord Howe springs forward 30 minutes on 2026-10-03 15:30 UTC.
_WINDOWS = [
    dt.datetime(2026, 10, 31, 20, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 7, 20, 0, tzinfo=UTC),
    dt.datetime(2026, 10, 3, 6, 0, tzinfo=UTC),
]


@functools.cache
def _window_fires(expression: str, zone: str, window: dt.datetime) -> list[dt.datetime]:
    schedule = parse(expression, default_tz=ZoneInfo(zone), now=window)
    end = window + dt.timedelta(hours=16)
    return list(itertools.takewhile(lambda t: t < end, schedule.iter_after(window)))


@settings(max_examples=200, deadline=None)
@given(
    expression=st.sampled_from(
        ["*/20 * * * *", "30 1 * * *", "0 * * * *", "*/7 1-2 * * *", "15,45 * * * * ? *"]
    ),
    zone=st.sampled_from([NY, "Australia/Lord_Howe", "America/Havana"]),
    window=st.sampled_from(_WINDOWS),
    offset=st.integers(0, 12 * 3600),
)
def test_next_after_is_consistent_with_one_iteration(
    expression: str, zone: str, window: dt.datetime, offset: int
) -> None:
    # the fire times form one fixed set: next_after(s) is its first member after s, for any s
    tz = ZoneInfo(zone)
    schedule = parse(expression, default_tz=tz, now=window)
    all_fires = _window_fires(expression, zone, window)
    start = (window + dt.timedelta(seconds=offset)).astimezone(tz)
    # Python compares two datetimes of the same zone by wall time (fold ignored): compare in UTC
    expected = next((t for t in all_fires if t.astimezone(UTC) > start.astimezone(UTC)), None)
    if expected is not None:
        assert schedule.next_after(start) == expected
