"""The schedule engine: syntax table, validation, strict-after semantics."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from jobd_core import InvalidArgument, JobdError
from jobd_core.schedule import Schedule, ScheduleError, parse

UTC = dt.UTC
START = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)  # a Saturday


def fires(expression: str, n: int = 4, start: dt.datetime = START) -> list[str]:
    schedule = parse(expression, default_tz=UTC, now=start)
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in itertools.islice(schedule.iter_after(start), n)]


def test_seed_expression_every_five_minutes() -> None:
    assert fires("0 0/5 * * * ? *") == [
        "2026-11-28 12:05:00",
        "2026-11-28 12:10:00",
        "2026-11-28 12:15:00",
        "2026-11-28 12:20:00",
    ]


def test_five_fields_fire_on_whole_minutes() -> None:
    assert fires("*/15 * * * *", 3) == [
        "2026-11-28 12:15:00",
        "2026-11-28 12:30:00",
        "2026-11-28 12:45:00",
    ]


def test_match_in_the_start_second_is_not_yielded() -> None:
    schedule = parse("* * * * * * *", default_tz=UTC, now=START)
    start = START.replace(microsecond=999_999)
    assert schedule.next_after(start) == START + dt.timedelta(seconds=1)


def test_schedule_error_is_value_error_and_einval() -> None:
    with pytest.raises(ScheduleError) as info:
        parse("*/0 * * * *", default_tz=UTC)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, InvalidArgument)
    assert isinstance(info.value, JobdError)
    assert str(info.value) == "invalid schedule '*/0 * * * *': step must be at least 1 in minute field"


def test_schedule_fields() -> None:
    schedule = parse("  0 0/5 * * * ? *\n", default_tz=UTC)
    assert isinstance(schedule, Schedule)
    assert schedule.expression == "0 0/5 * * * ? *"
    assert schedule.tz is UTC


def test_naive_start_is_refused() -> None:
    schedule = parse("* * * * *", default_tz=UTC)
    with pytest.raises(ValueError):
        schedule.next_after(dt.datetime(2026, 1, 1))
