"""The croniter seam: the engine agrees with croniter where their readings agree, and with a
brute-force day scan everywhere (this is where croniter's wrong readings would show)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from jobd_core._cron_parse import parse_spec
from jobd_core.schedule import parse

UTC = dt.UTC
START = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)

# Plain expressions whose meaning croniter 7 and cronexpr share.
SHARED = [
    "*/5 * * * *",
    "0 */2 * * *",
    "15,45 9-17 * * 1-5",
    "0 0 1 * *",
    "0 12 * * 0",
    "30 6 1,15 * *",
    "0 0 * 2 *",
    "5 4 * * sun",
    "0 22 * * 1-5",
    "23 0-20/2 * * *",
    "0 0 1 jan *",
    "0 9 1-7 * 1",
    "0 0 L * *",
    "0 0 * * 5#3",
    "0 0 13 * 5",
    "0 0 29 2 *",
]


@pytest.mark.parametrize("expression", SHARED)
def test_agrees_with_croniter(expression: str) -> None:
    ours = parse(expression, default_tz=UTC, now=START)
    theirs = croniter(expression, START.replace(tzinfo=None), ret_type=dt.datetime)
    for got in itertools.islice(ours.iter_after(START), 30):
        assert got.replace(tzinfo=None) == theirs.get_next(dt.datetime)


DAY_SPECS = [
    "L * *",
    "LW * *",
    "15W * *",
    "1W * *",
    "31W * *",
    "29W 2 *",
    "1,L * *",
    "L,15W * *",
    "* * 5L",
    "* * 0L",
    "* * 1#1",
    "* * 5#5",
    "* * 2#4,6L",
    "* * mon-wed",
    "L * 1#1",
    "1 * 5L",
    "LW * 0",
    "15W * 3#2",
    "13 * 5",
    "31 * 6L",
    "29 2 1",
    "L 2 5#5",
    "1-7 * 1",
    "? * 4#5",
]


def _scan(day_fields: str, first: dt.date, last: dt.date) -> list[dt.date]:
    spec = parse_spec("0 0 " + day_fields)
    days = []
    day = first
    while day <= last:
        if day.month in spec.months and spec.day_matches(day.year, day.month, day.day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _engine(day_fields: str, first: dt.date, last: dt.date) -> list[dt.date]:
    start = dt.datetime.combine(first, dt.time(), UTC) - dt.timedelta(seconds=1)
    schedule = parse("0 0 " + day_fields, default_tz=UTC, now=start)
    out = []
    for moment in schedule.iter_after(start):
        if moment.date() > last:
            break
        out.append(moment.date())
    return out


@pytest.mark.parametrize("day_fields", DAY_SPECS)
def test_engine_matches_brute_force_day_scan(day_fields: str) -> None:
    first, last = dt.date(2026, 1, 1), dt.date(2029, 12, 31)
    assert _engine(day_fields, first, last) == _scan(day_fields, first, last)


_DOM = st.sampled_from(["*", "L", "LW", "1", "15", "31", "1W", "15W", "30W", "5-10", "1,L", "*/9"])
_DOW = st.sampled_from(["*", "1", "0", "7", "5L", "1#1", "3#5", "mon-fri", "6L,2#2", "?"])
_MON = st.sampled_from(["*", "2", "1,4", "2-3", "*/5", "dec"])


@settings(max_examples=60, deadline=None)
@given(dom=_DOM, month=_MON, dow=_DOW)
def test_random_day_specs_match_brute_force(dom: str, month: str, dow: str) -> None:
    fields = f"{dom} {month} {dow}"
    first, last = dt.date(2027, 1, 1), dt.date(2028, 12, 31)
    try:
        engine = _engine(fields, first, last)
    except ValueError:  # can never fire (e.g. 30W in February): nothing to compare
        assert _scan(fields, dt.date(2027, 1, 1), dt.date(2099, 12, 31)) == []
        return
    assert engine == _scan(fields, first, last)
