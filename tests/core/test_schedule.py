"""The schedule engine: a table of (expression, start, next fire times) covering every construct."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobd_core import InvalidArgument, JobdError
from jobd_core.schedule import Schedule, ScheduleError, parse

UTC = dt.UTC
START = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)  # a Saturday
SPRING_2027 = dt.datetime(2027, 4, 20, tzinfo=UTC)  # May 2027 starts on a Saturday


def fires(expression: str, start: dt.datetime = START, n: int = 4) -> list[str]:
    schedule = parse(expression, default_tz=UTC, now=start)
    times = itertools.islice(schedule.iter_after(start), n)
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in times]


# (expression, start, expected next fire times); the start is 2026-11-28 12:00:00 UTC unless given.
TABLE: list[tuple[str, dt.datetime, list[str]]] = [
    # the seed (7 fields: seconds first, year last) and plain 5 fields
    (
        "0 0/5 * * * ? *",
        START,
        ["2026-11-28 12:05:00", "2026-11-28 12:10:00", "2026-11-28 12:15:00"],
    ),
    ("*/15 * * * *", START, ["2026-11-28 12:15:00", "2026-11-28 12:30:00", "2026-11-28 12:45:00"]),
    ("* * * * *", START, ["2026-11-28 12:01:00", "2026-11-28 12:02:00"]),
    ("30 * * * * ? *", START, ["2026-11-28 12:00:30", "2026-11-28 12:01:30"]),
    (
        "*/20 * * * * * *",
        START,
        ["2026-11-28 12:00:20", "2026-11-28 12:00:40", "2026-11-28 12:01:00"],
    ),
    # lists, ranges, steps (a/b = a..max step b), equal ranges, leading zeros
    (
        "5,10-12 12 * * *",
        START,
        [
            "2026-11-28 12:05:00",
            "2026-11-28 12:10:00",
            "2026-11-28 12:11:00",
            "2026-11-28 12:12:00",
            "2026-11-29 12:05:00",
        ],
    ),
    (
        "0 9-17/4 * * *",
        START,
        ["2026-11-28 13:00:00", "2026-11-28 17:00:00", "2026-11-29 09:00:00"],
    ),
    (
        "0 0 5/10 * *",
        START,
        [
            "2026-12-05 00:00:00",
            "2026-12-15 00:00:00",
            "2026-12-25 00:00:00",
            "2027-01-05 00:00:00",
        ],
    ),
    ("0 0 5-5 * *", START, ["2026-12-05 00:00:00", "2027-01-05 00:00:00"]),
    ("00 00 01 01 * 2027", START, ["2027-01-01 00:00:00"]),
    ("59 23 31 12 *", START, ["2026-12-31 23:59:00", "2027-12-31 23:59:00"]),
    # ? is a wildcard, in any field (cronexpr)
    ("0 0 ? * ?", START, ["2026-11-29 00:00:00", "2026-11-30 00:00:00"]),
    # month and day names, any case, short and long; 0 and 7 are Sunday
    (
        "0 12 * * MON-FRI",
        START,
        ["2026-11-30 12:00:00", "2026-12-01 12:00:00", "2026-12-02 12:00:00"],
    ),
    (
        "0 12 * * mon,WED,fri",
        START,
        [
            "2026-11-30 12:00:00",
            "2026-12-02 12:00:00",
            "2026-12-04 12:00:00",
            "2026-12-07 12:00:00",
        ],
    ),
    ("0 12 * * Sunday", START, ["2026-11-29 12:00:00", "2026-12-06 12:00:00"]),
    ("0 12 * JAN,jul *", START, ["2027-01-01 12:00:00", "2027-01-02 12:00:00"]),
    ("0 12 1 january *", START, ["2027-01-01 12:00:00", "2028-01-01 12:00:00"]),
    ("0 12 1 nov-dec *", START, ["2026-12-01 12:00:00", "2027-11-01 12:00:00"]),
    ("0 0 * * 0", START, ["2026-11-29 00:00:00", "2026-12-06 00:00:00"]),
    ("0 0 * * 7", START, ["2026-11-29 00:00:00", "2026-12-06 00:00:00"]),
    (
        "0 0 * * 5-7",
        START,
        [
            "2026-11-29 00:00:00",
            "2026-12-04 00:00:00",
            "2026-12-05 00:00:00",
            "2026-12-06 00:00:00",
        ],
    ),
    (
        "0 12 * * 0/2",
        START,
        [
            "2026-11-29 12:00:00",
            "2026-12-01 12:00:00",
            "2026-12-03 12:00:00",
            "2026-12-05 12:00:00",
        ],
    ),
    # L, LW, nW in day-of-month (W never crosses the month; no such day, no fire)
    (
        "0 0 L * *",
        START,
        [
            "2026-11-30 00:00:00",
            "2026-12-31 00:00:00",
            "2027-01-31 00:00:00",
            "2027-02-28 00:00:00",
        ],
    ),
    (
        "0 0 LW * *",
        START,
        [
            "2026-11-30 00:00:00",
            "2026-12-31 00:00:00",
            "2027-01-29 00:00:00",
            "2027-02-26 00:00:00",
        ],
    ),
    (
        "0 0 15W * *",
        SPRING_2027,
        [
            "2027-05-14 00:00:00",
            "2027-06-15 00:00:00",
            "2027-07-15 00:00:00",
            "2027-08-16 00:00:00",
        ],
    ),
    (
        "0 0 1W * *",
        SPRING_2027,
        [
            "2027-05-03 00:00:00",
            "2027-06-01 00:00:00",
            "2027-07-01 00:00:00",
            "2027-08-02 00:00:00",
        ],
    ),
    (
        "0 0 31W * *",
        START,
        [
            "2026-12-31 00:00:00",
            "2027-01-29 00:00:00",
            "2027-03-31 00:00:00",
            "2027-05-31 00:00:00",
        ],
    ),
    (
        "0 0 L,15 2 *",
        START,
        [
            "2027-02-15 00:00:00",
            "2027-02-28 00:00:00",
            "2028-02-15 00:00:00",
            "2028-02-29 00:00:00",
        ],
    ),
    # nL (last weekday n of the month) and n#k (k-th weekday n) in day-of-week
    ("0 0 * * 5L", START, ["2026-12-25 00:00:00", "2027-01-29 00:00:00", "2027-02-26 00:00:00"]),
    ("0 0 * * FRIL", START, ["2026-12-25 00:00:00", "2027-01-29 00:00:00"]),
    ("0 0 * * 7L", START, ["2026-11-29 00:00:00", "2026-12-27 00:00:00", "2027-01-31 00:00:00"]),
    ("0 0 * * 1#1", START, ["2026-12-07 00:00:00", "2027-01-04 00:00:00", "2027-02-01 00:00:00"]),
    (
        "0 0 * * MON#1,fri#3",
        START,
        [
            "2026-12-07 00:00:00",
            "2026-12-18 00:00:00",
            "2027-01-04 00:00:00",
            "2027-01-15 00:00:00",
        ],
    ),
    ("0 0 * * 5#5", START, ["2027-01-29 00:00:00", "2027-04-30 00:00:00", "2027-07-30 00:00:00"]),
    # both day fields restricted: either matches (union)
    (
        "0 0 13 * 5",
        START,
        [
            "2026-12-04 00:00:00",
            "2026-12-11 00:00:00",
            "2026-12-13 00:00:00",
            "2026-12-18 00:00:00",
        ],
    ),
    (
        "0 0 1,15 * 1",
        START,
        [
            "2026-11-30 00:00:00",
            "2026-12-01 00:00:00",
            "2026-12-07 00:00:00",
            "2026-12-14 00:00:00",
            "2026-12-15 00:00:00",
        ],
    ),
    ("0 0 L * 1#1", START, ["2026-11-30 00:00:00", "2026-12-07 00:00:00", "2026-12-31 00:00:00"]),
    (
        "0 0 15W * SUN",
        SPRING_2027,
        [
            "2027-04-25 00:00:00",
            "2027-05-02 00:00:00",
            "2027-05-09 00:00:00",
            "2027-05-14 00:00:00",
        ],
    ),
    # leap years
    ("0 0 29 2 *", START, ["2028-02-29 00:00:00", "2032-02-29 00:00:00", "2036-02-29 00:00:00"]),
    ("0 0 0 29 2 ? 2032,2040", START, ["2032-02-29 00:00:00", "2040-02-29 00:00:00"]),
    # 6 fields: the sixth is a YEAR; 1970-2099; the iteration ends with the year list
    ("0 0 1 1 * 2030", START, ["2030-01-01 00:00:00"]),
    (
        "0 0 1 1 * 2027-2029",
        START,
        ["2027-01-01 00:00:00", "2028-01-01 00:00:00", "2029-01-01 00:00:00"],
    ),
    ("0 0 1 1 * */10", START, ["2030-01-01 00:00:00", "2040-01-01 00:00:00"]),
    ("0 0 1 1 * 2099", START, ["2099-01-01 00:00:00"]),
    ("0 0 31 12 *", dt.datetime(2099, 6, 1, tzinfo=UTC), ["2099-12-31 00:00:00"]),
    # macros
    ("@yearly", START, ["2027-01-01 00:00:00", "2028-01-01 00:00:00"]),
    ("@annually", START, ["2027-01-01 00:00:00"]),
    ("@monthly", START, ["2026-12-01 00:00:00", "2027-01-01 00:00:00"]),
    ("@weekly", START, ["2026-11-29 00:00:00", "2026-12-06 00:00:00"]),
    ("@daily", START, ["2026-11-29 00:00:00", "2026-11-30 00:00:00"]),
    ("@midnight", START, ["2026-11-29 00:00:00"]),
    ("@hourly", START, ["2026-11-28 13:00:00", "2026-11-28 14:00:00"]),
    ("@minutely", START, ["2026-11-28 12:01:00", "2026-11-28 12:02:00"]),
    ("@DAILY", START, ["2026-11-29 00:00:00"]),
]


@pytest.mark.parametrize(("expression", "start", "expected"), TABLE, ids=[c[0] for c in TABLE])
def test_table(expression: str, start: dt.datetime, expected: list[str]) -> None:
    assert fires(expression, start, n=len(expected)) == expected


def test_year_list_ends_the_iteration() -> None:
    assert fires("0 0 1 1 * 2027-2029", n=10) == [
        "2027-01-01 00:00:00",
        "2028-01-01 00:00:00",
        "2029-01-01 00:00:00",
    ]
    schedule = parse("0 0 31 12 *", default_tz=UTC)
    assert schedule.next_after(dt.datetime(2099, 12, 31, tzinfo=UTC)) is None


def test_once_in_2099_is_found_from_2026() -> None:
    schedule = parse("0 0 0 1 1 ? 2099", default_tz=UTC, now=START)
    assert schedule.next_after(START) == dt.datetime(2099, 1, 1, tzinfo=UTC)


def test_the_same_second_is_not_yielded() -> None:
    schedule = parse("* * * * * * *", default_tz=UTC, now=START)
    assert schedule.next_after(START) == START + dt.timedelta(seconds=1)
    assert schedule.next_after(START.replace(microsecond=999_999)) == START + dt.timedelta(
        seconds=1
    )
    assert schedule.next_after(START - dt.timedelta(microseconds=1)) == START


def test_start_in_another_zone_is_converted() -> None:
    schedule = parse("TZ=Europe/Berlin 0 9 * * *", now=START)
    tokyo = START.astimezone(ZoneInfo("Asia/Tokyo"))
    got = schedule.next_after(tokyo)
    assert got == dt.datetime(2026, 11, 29, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert got is not None and got.tzinfo == ZoneInfo("Europe/Berlin")


def test_tz_prefix_sets_the_zone() -> None:
    schedule = parse("TZ=Asia/Tokyo 0 9 * * *", default_tz=UTC)
    assert schedule.tz == ZoneInfo("Asia/Tokyo")
    assert schedule.expression == "TZ=Asia/Tokyo 0 9 * * *"
    assert schedule.next_after(START) == dt.datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def test_tz_prefix_is_case_insensitive_and_tolerates_tabs() -> None:
    assert parse("tz=Asia/Tokyo\t0 9 * * *", default_tz=UTC).tz == ZoneInfo("Asia/Tokyo")


def test_default_tz_and_local_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse("0 9 * * *", default_tz=berlin).tz is berlin
    assert parse("0 9 * * *").tz.utcoffset(START) is not None


def test_iteration_is_strictly_increasing_and_aware() -> None:
    schedule = parse("*/7 * * * * * *", default_tz=ZoneInfo("America/New_York"))
    times = list(itertools.islice(schedule.iter_after(START), 500))
    assert all(t.tzinfo is schedule.tz for t in times)
    assert all(a.astimezone(UTC) < b.astimezone(UTC) for a, b in itertools.pairwise(times))


def test_schedule_error_is_value_error_and_einval() -> None:
    with pytest.raises(ScheduleError) as info:
        parse("*/0 * * * *", default_tz=UTC)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, InvalidArgument)
    assert isinstance(info.value, JobdError)
    assert info.value.errno == 22
    assert (
        str(info.value) == "invalid schedule '*/0 * * * *': step must be at least 1 in minute field"
    )


def test_schedule_value() -> None:
    schedule = parse("  0 0/5 * * * ? *\n", default_tz=UTC)
    assert isinstance(schedule, Schedule)
    assert schedule.expression == "0 0/5 * * * ? *"
    assert schedule.tz is UTC
    assert schedule == Schedule("0 0/5 * * * ? *", UTC)
    assert hash(schedule) == hash(Schedule("0 0/5 * * * ? *", UTC))
    assert "0 0/5" in repr(schedule)


def test_direct_construction_validates() -> None:
    with pytest.raises(ScheduleError):
        Schedule("*/0 * * * *", UTC)


def test_naive_start_is_refused() -> None:
    schedule = parse("* * * * *", default_tz=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.iter_after(dt.datetime(2026, 1, 1))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        timezones=st.sampled_from([UTC, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")])
    ),
    st.sampled_from(
        ["* * * * * * *", "0 0 1 1 *", "TZ=Pacific/Kiritimati 0 0 L * *", "0 0 2 1 * 1970"]
    ),
)
def test_any_start_gives_a_later_fire_or_none(start: dt.datetime, expression: str) -> None:
    schedule = parse(expression, default_tz=UTC, now=dt.datetime(1970, 1, 1, tzinfo=UTC))
    fire = schedule.next_after(start)
    if fire is not None:
        assert fire > start.replace(microsecond=0)
        assert 1970 <= fire.year <= 2099


def test_extreme_starts() -> None:
    schedule = parse("0 0 1 1 *", default_tz=ZoneInfo("Asia/Tokyo"))
    low = dt.datetime.min.replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    assert schedule.next_after(low) == dt.datetime(1970, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert schedule.next_after(dt.datetime.max.replace(tzinfo=UTC)) is None
    assert schedule.next_after(dt.datetime(2100, 1, 1, tzinfo=UTC)) is None


def test_interleaved_iterators_share_compiled_state_safely() -> None:
    schedule = parse("*/10 * * * *", default_tz=UTC)
    first = schedule.iter_after(START)
    second = schedule.iter_after(START + dt.timedelta(days=1))
    pairs = [(next(first), next(second)) for _ in range(3)]
    assert [a.strftime("%d %H:%M") for a, _ in pairs] == ["28 12:10", "28 12:20", "28 12:30"]
    assert [b.strftime("%d %H:%M") for _, b in pairs] == ["29 12:10", "29 12:20", "29 12:30"]
    assert parse("*/10 * * * *", default_tz=ZoneInfo("Asia/Tokyo"))._search is schedule._search


def test_local_zone_follows_tz_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert parse("0 9 * * *").tz == ZoneInfo("Europe/Berlin")
    monkeypatch.setenv("TZ", ":America/New_York")
    assert parse("0 9 * * *").tz == ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", "Not/A_Zone")
    assert parse("0 9 * * *").tz.utcoffset(START) is not None  # falls back to /etc/localtime


def test_quotes_in_the_expression_are_escaped_in_the_message() -> None:
    with pytest.raises(ScheduleError, match=r"invalid schedule 'it\\'s \* \* \* \*'"):
        parse("it's * * * *", default_tz=UTC)
